"""A full answer's range asked again in pieces sized from the answer: every trace still read, far fewer read twice.

The puller's own recursion runs against an in-process stand-in for Jaeger's search (pure logic: which traces of a
service start in a range, at most `limit` of them); the same code against the real Jaeger is in
tests/integration/traces/test_puller_jaeger.py and bench/bench_traces_shards.py.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from observe.traces.config import TracesConfig
from observe.traces.jaeger import V3
from observe.traces.puller import MAX_PIECES, MIN_SPLIT_US, Puller, split_range
from tests.unit.traces.test_ingest import T0, otlp_answer

S = 1_000_000


def covers(pieces: list[tuple[int, int]], start: int, end: int) -> bool:
    return pieces[0][0] == start and pieces[-1][1] == end and all(a[1] == b[0] for a, b in itertools.pairwise(pieces))


def test_without_an_estimate_the_range_is_halved() -> None:
    assert split_range(0, 10 * S, 1000, None, 1000) == [(0, 5 * S), (5 * S, 10 * S)]


def test_a_burst_in_a_long_range_is_asked_in_the_most_pieces() -> None:
    pieces = split_range(0, 300 * S, 1000, (100 * S, 110 * S), 1000)  # 1,000 traces in 10 s of 300
    assert len(pieces) == MAX_PIECES and covers(pieces, 0, 300 * S)


def test_pieces_hold_about_half_a_limit_at_the_answers_density() -> None:
    # The newest 1,000 of 4,000 traces spread evenly over 100 s start in its last 25 s: 40 traces/s, so pieces of
    # 12.5 s should hold 500 each.
    pieces = split_range(0, 100 * S, 1000, (75 * S, 100 * S), 1000)
    assert len(pieces) == 8 and covers(pieces, 0, 100 * S)


def test_an_answer_spread_over_the_whole_range_is_halved() -> None:
    assert len(split_range(0, 100 * S, 1000, (0, 100 * S), 1000)) == 2


def test_pieces_are_never_narrower_than_half_the_shortest_split() -> None:
    pieces = split_range(0, 3 * S, 1000, (S, S), 1000)  # every trace at one instant
    assert len(pieces) == 3 * S // (MIN_SPLIT_US // 2) and covers(pieces, 0, 3 * S)


class FakeSearch:
    """Jaeger's trace search for one service: the traces starting in [start, end], `order` picks which `limit`."""

    def __init__(self, starts: list[int], order: str) -> None:
        self.stored = [(f"{i + 1:032x}", at) for i, at in enumerate(starts)]
        self.order = order
        self.requests = 0
        self.traces_sent = 0

    async def traces(self, service: str, start_us: int, end_us: int, limit: int) -> tuple[str, bytes]:
        found = [t for t in self.stored if start_us <= t[1] <= end_us]
        if self.order == "newest":
            found.sort(key=lambda t: -t[1])
        elif self.order == "random":
            random.Random(start_us ^ end_us).shuffle(found)
        found = found[:limit]
        self.requests += 1
        self.traces_sent += len(found)
        return V3, otlp_answer(*((tid, 2, at) for tid, at in found))

    async def close(self) -> None:
        pass


def pull(tmp_path: Path, starts: list[int], order: str, start: int, end: int) -> tuple[Puller, FakeSearch]:
    cfg = TracesConfig(jaeger_url="http://127.0.0.1:1", services=["productpage"], limit=1000,
                       state_file=tmp_path / "state")
    puller = Puller(cfg, CollectorRegistry())
    search = FakeSearch(starts, order)
    puller.client = search  # type: ignore[assignment]
    asyncio.run(puller._pull_range("productpage", start, end))
    return puller, search


@pytest.mark.parametrize("order", ["newest", "oldest", "random"])
def test_a_burst_is_read_whole_whichever_traces_a_full_answer_holds(tmp_path: Path, order: str) -> None:
    # The bench's first pull: 2,000 page views 10 ms apart in a 360 s window. Halving fetched 8,002 traces here in
    # 13 requests, whichever traces a full answer held: five full answers down to 22.5 s, two full halves of
    # 11.25 s, then the four quarters.
    starts = [T0 + 200 * S + i * 10_000 for i in range(2000)]
    puller, search = pull(tmp_path, starts, order, T0, T0 + 360 * S)
    assert puller.ingest.pairer.accepted == 2 * 2000  # two spans per trace, every one read
    assert puller.pull_errors.labels("truncated")._value.get() == 0
    assert search.traces_sent <= 4_100, (search.traces_sent, search.requests)


@pytest.mark.parametrize(("order", "most"), [("newest", 5_000), ("random", 8_000)])
def test_an_even_load_is_read_whole_with_less_fetched_twice(tmp_path: Path, order: str, most: int) -> None:
    # 40 traces/s over 100 s. Halving fetched 11,007 traces: the first answer, two full halves, four quarters of
    # exactly a limit each (full too), then eight eighths. The newest 1,000 give the density (one full answer, then
    # pieces of about 500); a random 1,000 span the whole range, so the first split is in halves.
    starts = [T0 + i * 25_000 for i in range(4000)]
    puller, search = pull(tmp_path, starts, order, T0, T0 + 100 * S)
    assert puller.ingest.pairer.accepted == 2 * 4000
    assert search.traces_sent <= most, (search.traces_sent, search.requests)
