"""The broker users the compose file makes (deploy/rabbitmq/setup-users.sh), on a private
RabbitMQ node: the registry's may publish to the events exchange, the one auth and the router
use may only consume, and with exactly those permissions the services work."""

import asyncio
from pathlib import Path

import aio_pika
import pytest

from tests.support.apps import running_services
from tests.support.credentials import AS_AUTH
from tests.support.infra import Infra
from tests.support.rabbit import RabbitNode

SETUP = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "setup-users.sh"
EXCHANGE = "latchkey.token-events"
PASSWORDS = {
    "RABBITMQ_REGISTRY_PASSWORD": "registry-broker-password",
    "RABBITMQ_INSTANCE_PASSWORD": "instance-broker-password",
}

pytestmark = pytest.mark.skipif(
    not RabbitNode.available(), reason="needs rabbitmq-server on this machine"
)


@pytest.fixture
async def node() -> object:
    started = await RabbitNode().start()
    try:
        await started.run_script(SETUP, **PASSWORDS)
        await started.run_script(SETUP, **PASSWORDS)  # run again (every `up`): harmless
        yield started
    finally:
        await started.stop()


async def refused(work: object) -> bool:
    try:
        await work  # type: ignore[misc]
    except aio_pika.exceptions.AMQPError as exc:
        return "ACCESS_REFUSED" in str(exc) or "403" in str(exc)
    return False


async def test_only_the_registrys_broker_user_may_publish_and_the_services_need_no_more(
    node: RabbitNode, infra: Infra, fresh_database: str
) -> None:
    await permissions_hold(node)
    await services_work(node, infra, fresh_database)


async def permissions_hold(node: RabbitNode) -> None:
    registry = await aio_pika.connect(
        node.url_for("latchkey-registry", PASSWORDS["RABBITMQ_REGISTRY_PASSWORD"])
    )
    instance = await aio_pika.connect(
        node.url_for("latchkey-instance", PASSWORDS["RABBITMQ_INSTANCE_PASSWORD"])
    )
    async with registry, instance:
        publisher = await registry.channel(publisher_confirms=True)
        exchange = await publisher.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
        )
        consumer = await instance.channel()
        assert await refused(
            consumer.declare_exchange(EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True)
        ), "an instance may not create or change the exchange"
        consumer = await instance.channel()
        found = await consumer.declare_exchange(EXCHANGE, passive=True)
        queue = await consumer.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(found)
        await exchange.publish(aio_pika.Message(b"from the registry"), routing_key="")
        message = await queue.get(timeout=5, fail=False)
        for _ in range(50):
            if message is not None:
                break
            await asyncio.sleep(0.05)
            message = await queue.get(timeout=5, fail=False)
        assert message is not None
        assert message.body == b"from the registry"
        forger = await instance.channel(publisher_confirms=True)
        target = await forger.declare_exchange(EXCHANGE, passive=True)
        assert await refused(target.publish(aio_pika.Message(b"forged"), routing_key="")), (
            "an instance may not publish to the exchange"
        )
        other = await instance.channel()
        assert await refused(other.declare_queue("latchkey.not-server-named")), (
            "an instance may only have server-named queues"
        )


async def services_work(node: RabbitNode, infra: Infra, fresh_database: str) -> None:
    overrides = {
        "registry": {
            "amqp_url": node.url_for("latchkey-registry", PASSWORDS["RABBITMQ_REGISTRY_PASSWORD"]),
            "events_exchange": EXCHANGE,
        },
        "auth": {
            "amqp_url": node.url_for("latchkey-instance", PASSWORDS["RABBITMQ_INSTANCE_PASSWORD"]),
            "events_exchange": EXCHANGE,
        },
    }
    async with running_services(
        infra, fresh_database, EXCHANGE, names=("registry", "auth"), overrides=overrides
    ) as services:
        await services.live()
        admin = await services.token()
        status, body = await services.call("auth", "POST", "/api/v1/user/logout", token=admin)
        assert status == 200, body
        for _ in range(200):
            status, body = await services.call(
                "auth",
                "POST",
                "/internal/v1/token-state/check",
                headers=AS_AUTH,
                json={"token": admin},
            )
            if body["data"]["reason"] == "token_revoked":
                break
            await asyncio.sleep(0.02)
        assert body["data"]["reason"] == "token_revoked", body
