"""Run a command with LATCHKEY_TEST_DATABASE_URL / LATCHKEY_TEST_AMQP_URL pointing at the local
PostgreSQL and RabbitMQ when those are unset and the local servers answer; otherwise leave them
unset so the tests start containers (or stop with a message saying what to set)."""

import os
import socket
import sys

LOCAL = {
    "LATCHKEY_TEST_DATABASE_URL": ("postgresql://postgres@127.0.0.1:5432/postgres", 5432),
    "LATCHKEY_TEST_AMQP_URL": ("amqp://guest:guest@127.0.0.1:5672/", 5672),
}


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    env = dict(os.environ)
    for name, (url, port) in LOCAL.items():
        if not env.get(name) and answers(port):
            env[name] = url
    os.execvpe(sys.argv[1], sys.argv[1:], env)


if __name__ == "__main__":
    main()
