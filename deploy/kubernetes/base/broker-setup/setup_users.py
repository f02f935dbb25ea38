"""The broker users Latchkey's services connect as, made through RabbitMQ's management API.

The Kubernetes counterpart of deploy/rabbitmq/setup-users.sh (which uses rabbitmqctl beside
the node, for docker compose): the same users with the same permissions, so a test keeps the
two in step. Run by the `latchkey-broker-setup` Job with nothing but Python's standard
library; rerunning it is harmless (users and permissions are set, not added). Users and
permissions belong to the whole RabbitMQ cluster: once per cluster is enough.

    latchkey-registry  may create the events exchange and publish to it (the registry's relay
                       is its only publisher), and consume from a queue of its own
    latchkey-instance  may only declare, bind and consume server-named queues of its own
                       (amq.gen-*): auth and the router, which never publish

Environment: RABBITMQ_API_URL (the management API, e.g. http://rabbitmq:15672),
RABBITMQ_ADMIN_USERNAME / RABBITMQ_ADMIN_PASSWORD (a user tagged `administrator`),
RABBITMQ_REGISTRY_PASSWORD, RABBITMQ_INSTANCE_PASSWORD, and optionally RABBITMQ_VHOST
(default `/`), LATCHKEY_EVENTS_EXCHANGE (default `latchkey.token-events`) and
RABBITMQ_API_TIMEOUT (seconds to wait for the API to answer, default 300).
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

QUEUES = r"^amq\.gen-.*$"
"""The names RabbitMQ gives server-named queues: every instance's own."""


def exchange_pattern(name: str) -> str:
    """A permission pattern matching exactly the exchange `name` (of the characters AMQP
    names are made of, letters, digits, `-`, `_`, `.` and `:`, only `.` means more)."""
    return "^" + name.replace(".", "\\.") + "$"


def permissions(exchange: str) -> dict[str, dict[str, str]]:
    """Per user, the configure / write / read patterns it is given."""
    own = f"{exchange_pattern(exchange)}|{QUEUES}"
    return {
        "latchkey-registry": {"configure": own, "write": own, "read": own},
        "latchkey-instance": {"configure": QUEUES, "write": QUEUES, "read": own},
    }


class Api:
    def __init__(self, url: str, username: str, password: str) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise SystemExit("RABBITMQ_API_URL must be an http(s) URL")
        self._url = url.rstrip("/")
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: object = None) -> int:
        data = None if body is None else json.dumps(body).encode()
        # The URL's scheme was checked to be http(s) when this was made.
        url = self._url + path
        request = urllib.request.Request(url, data=data, method=method, headers=self._headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)

    def wait(self, timeout: float) -> None:
        """Until the API answers (the broker may still be starting)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call("GET", "/api/whoami")
                return
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403):
                    problem = f"the management API refused the admin user ({exc.code})"
                    raise SystemExit(problem) from None
                problem = f"HTTP {exc.code}"
            except OSError as exc:
                problem = type(exc).__name__
            if time.monotonic() > deadline:
                raise SystemExit(f"the management API did not answer in time ({problem})")
            print(f"waiting for the management API ({problem})", file=sys.stderr, flush=True)
            time.sleep(1)


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f"{name} is not set")
    return value


def main() -> None:
    api = Api(
        required("RABBITMQ_API_URL"),
        required("RABBITMQ_ADMIN_USERNAME"),
        required("RABBITMQ_ADMIN_PASSWORD"),
    )
    api.wait(float(os.environ.get("RABBITMQ_API_TIMEOUT", "300")))
    vhost = urllib.parse.quote(os.environ.get("RABBITMQ_VHOST", "/"), safe="")
    exchange = os.environ.get("LATCHKEY_EVENTS_EXCHANGE", "latchkey.token-events")
    passwords = {
        "latchkey-registry": required("RABBITMQ_REGISTRY_PASSWORD"),
        "latchkey-instance": required("RABBITMQ_INSTANCE_PASSWORD"),
    }
    for user, granted in permissions(exchange).items():
        # No tags: neither user may use the management API or see other users.
        api.call("PUT", f"/api/users/{user}", {"password": passwords[user], "tags": ""})
        api.call("PUT", f"/api/permissions/{vhost}/{user}", granted)
    print("broker users ready: " + ", ".join(passwords), flush=True)


if __name__ == "__main__":
    main()
