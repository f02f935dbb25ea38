"""Delivery receipts: every report fits the registry's body limit, a burst of tokens is spread
over several reports, and a report the registry refuses is not retried for ever."""

import uuid
from typing import Any

from latchkey.common.app import MAX_BODY_BYTES
from latchkey.common.events import InstanceReport, TokenStateSnapshot
from latchkey.common.packed import EMPTY_REFS
from latchkey.common.service_client import ServiceError
from latchkey.common.tokenstate.receipts import APPLIED_PER_REPORT, USED_PER_REPORT, Receipts
from latchkey.common.tokenstate.sequencer import Sequencer
from latchkey.common.tokenstate.view import TokenStateView


class Collecting:
    """Keeps what it is sent; refuses with a 4xx while `refuse` is set."""

    def __init__(self) -> None:
        self.reports: list[InstanceReport] = []
        self.refuse = False

    async def report(self, report: InstanceReport) -> None:
        if self.refuse:
            raise ServiceError(413, "payload_too_large", "too big")
        self.reports.append(report)

    async def snapshot(self) -> Any:
        raise AssertionError("not used")

    async def events_after(self, seq: int) -> Any:
        raise AssertionError("not used")

    async def introspect(self, token: str) -> Any:
        raise AssertionError("not used")


def receipts_for(source: Collecting) -> Receipts:
    sequencer = Sequencer(TokenStateView(), source)
    return Receipts(source, sequencer, instance_id="i", service="auth", mode=lambda: "live")


async def test_a_burst_of_tokens_is_spread_over_reports_that_fit() -> None:
    source = Collecting()
    receipts = receipts_for(source)
    for seq in range(1, 1001):
        receipts.applied(seq)
    for _ in range(2000):
        receipts.used(uuid.uuid4())
    while await receipts.send() and (source.reports[-1].used or source.reports[-1].applied):
        pass
    sizes = [len(report.model_dump_json(by_alias=True)) for report in source.reports]
    assert max(sizes) < MAX_BODY_BYTES
    assert all(len(report.used) <= USED_PER_REPORT for report in source.reports)
    assert all(len(report.applied) <= APPLIED_PER_REPORT for report in source.reports)
    assert sum(len(report.used) for report in source.reports) == 2000
    assert [a.seq for report in source.reports for a in report.applied] == list(range(1, 1001))


async def test_a_refused_report_is_dropped_not_retried_for_ever() -> None:
    source = Collecting()
    receipts = receipts_for(source)
    receipts.applied(1)
    source.refuse = True
    assert await receipts.send()  # answered (with a refusal): what it carried is let go
    source.refuse = False
    await receipts.send()
    assert source.reports[-1].applied == []


class SnapshotAt(Collecting):
    def __init__(self, seq: int) -> None:
        super().__init__()
        self.seq = seq

    async def snapshot(self) -> TokenStateSnapshot:
        return TokenStateSnapshot(
            seq=self.seq,
            revoked=EMPTY_REFS,
            disabled=EMPTY_REFS,
            domains=[],
            subjects=[],
            policy_domains=[],
        )


async def test_the_receipt_of_a_loaded_snapshot_says_it_caught_up() -> None:
    """A snapshot stands for every change before it that the instance never saw as an event
    (it started, or restarted, after them): the registry reads its receipt as when it caught
    up with each."""
    source = SnapshotAt(7)
    sequencer = Sequencer(TokenStateView(), source)
    receipts = Receipts(source, sequencer, instance_id="i", service="auth", mode=lambda: "live")
    await sequencer.load_snapshot()
    receipts.applied(8)  # then an event, applied as itself
    await receipts.send()
    assert [(a.seq, a.caught_up) for a in source.reports[-1].applied] == [(7, True), (8, False)]
