"""Memory of the token-state view per revoked token, measured with tracemalloc in a process of
its own: `python -m bench.memory --entries N` prints JSON.

The view is fed `TokenRevoked` events with random jtis and expiries spread over 30 days (the
default lifetime of a generated token, so the expiry wheel has its most buckets). What stays
allocated afterwards is what the view costs. The baseline is the least Python can do: a bare
set of the same number of 128-bit integers.

Under tracemalloc every allocation is slow (uuid4 and a pydantic model per event took over
three minutes for a million), so one event object is re-filled for each change: the view sees
a `TokenRevoked` with a new jti (a fresh 128-bit integer, as a parsed UUID holds) each time,
and the measurement keeps exactly what the view keeps.
"""

import argparse
import gc
import json
import random
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from latchkey.common.events import TokenRevoked
from latchkey.common.tokenstate.view import TokenStateView

SPREAD_MINUTES = 30 * 24 * 60


def retained(fill: Callable[[], Any]) -> tuple[int, Any]:
    """Bytes still allocated when `fill` returns (its result kept alive)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = fill()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    count = args.entries
    now = time.time()
    # One expiry a minute over the spread, built before tracing and shared by the events.
    expiries = [datetime.fromtimestamp(now + minute * 60, UTC) for minute in range(SPREAD_MINUTES)]
    event = TokenRevoked(seq=1, at=datetime.now(UTC), jti=uuid.uuid4(), expires_at=expiries[0])
    fields = event.__dict__  # the model is frozen; its fields live in __dict__
    bits = random.getrandbits
    choose = random.choice

    def fill_view() -> TokenStateView:
        view = TokenStateView()
        apply = view.apply
        for seq in range(1, count + 1):
            fields["seq"] = seq
            fields["jti"] = uuid.UUID(int=bits(128))
            fields["expires_at"] = choose(expiries)
            apply(event)
        return view

    def fill_set() -> set[int]:
        return {bits(128) for _ in range(count)}

    started = time.perf_counter()
    view_bytes, view = retained(fill_view)
    assert view.entries == count, view.entries
    fields["jti"] = uuid.uuid4()  # let go of the last jti before the next measurement
    set_bytes, _ = retained(fill_set)
    result = {
        "entries": count,
        "view_bytes": view_bytes,
        "view_bytes_per_entry": view_bytes / count,
        "set_bytes": set_bytes,
        "set_bytes_per_entry": set_bytes / count,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
