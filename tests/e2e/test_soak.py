"""The chaos soak, short: each fault once (the relaying registry killed, the broker stopped,
a router killed, PostgreSQL cut, a router frozen past the staleness bound) under steady
revocations and signed-in traffic, and not one revoked token honoured past the bound, come
back, or lost."""

from pathlib import Path

import pytest

from soak.config import ARTIFACTS, SoakConfig
from soak.report import table, write
from soak.run import run_soak
from tests.support.infra import Infra
from tests.support.rabbit import RabbitNode


@pytest.mark.skipif(not RabbitNode.available(), reason="needs rabbitmq-server on this machine")
@pytest.mark.timeout(240)  # about 80 s; a busy shared machine can stretch every phase
async def test_a_short_soak_honours_no_revoked_token_past_the_bound_and_loses_nothing(
    infra: Infra, log_dir: Path
) -> None:
    config = SoakConfig.short(database_server=infra.server_url, log_dir=log_dir)
    result = (await run_soak(config)).as_json()
    write(result, ARTIFACTS / "short.json")
    totals = result["totals"]
    assert (totals["honouredPastBound"], totals["cameBack"], totals["eventsLost"]) == (
        0, 0, 0
    ), table(result)  # fmt: skip
    # The soak saw what it claims to: every phase revoked tokens and followed them.
    for phase in result["phases"][:-1]:
        assert phase["revocations"]["confirmed"] > 0, table(result)
        assert phase["probes"] > 0, table(result)
