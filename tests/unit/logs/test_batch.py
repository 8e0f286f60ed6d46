"""Batching by bytes/count/linger and contiguous acknowledgement."""

import asyncio
import random

from observe.logs.batch import Batch, Batcher, FileAcks, Segment


class Owner:
    namespace = "ns"

    def __init__(self) -> None:
        self.advances = 0
        self.acks = FileAcks(0, self._advanced)

    def _advanced(self) -> None:
        self.advances += 1

    def segment_done(self) -> None:
        self.acks.advance()


def seg(owner: Owner, n: int, safe: int, size: int = 10) -> Segment:
    s = Segment(owner, [b"x" * size for _ in range(n)], safe)
    owner.acks.register(s)
    return s


def test_checkpoint_advances_only_across_contiguous_acks() -> None:
    o = Owner()
    s1, s2, s3 = seg(o, 2, 100), seg(o, 3, 200), seg(o, 1, 300)
    for s in (s3, s2):
        b = Batch()
        b.slices.append((s, 0, len(s.items)))
        b.complete()
    assert o.acks.acked_offset == 0  # s1 is still out
    b = Batch()
    b.slices.append((s1, 0, 2))
    b.complete()
    assert o.acks.acked_offset == 300
    assert not o.acks.segments


def test_split_segment_completes_when_all_slices_are_acked() -> None:
    o = Owner()
    s = seg(o, 4, 50)
    a, b = Batch(), Batch()
    a.slices.append((s, 0, 2))
    b.slices.append((s, 2, 4))
    a.complete()
    assert o.acks.acked_offset == 0
    b.complete()
    assert o.acks.acked_offset == 50


def test_empty_segment_advances_at_once_when_first() -> None:
    o = Owner()
    seg(o, 0, 42)
    assert o.acks.acked_offset == 42


async def run_batcher(segments: list[Segment], **kw: float) -> list[Batch]:
    inbox: asyncio.Queue[Segment | None] = asyncio.Queue()
    outbox: asyncio.Queue[Batch | None] = asyncio.Queue()
    for s in segments:
        inbox.put_nowait(s)
    inbox.put_nowait(None)
    await Batcher(inbox, outbox, max_bytes=int(kw.get("max_bytes", 1000)), max_events=int(kw.get("max_events", 1000)),
                  linger=kw.get("linger", 0.01)).run()
    out = []
    while (b := outbox.get_nowait()) is not None:
        out.append(b)
    return out


async def test_batcher_respects_bytes_and_count() -> None:
    o = Owner()
    segs = [seg(o, 7, 1), seg(o, 7, 2), seg(o, 7, 3)]
    batches = await run_batcher(segs, max_bytes=55, max_events=100)
    assert [b.count for b in batches] == [5, 5, 5, 5, 1]
    assert all(b.nbytes <= 55 for b in batches)
    assert b"".join(b.body() for b in batches) == b"x" * 210
    batches = await run_batcher([seg(o, 7, 4)], max_events=3)
    assert [b.count for b in batches] == [3, 3, 1]


async def test_oversized_item_goes_alone() -> None:
    o = Owner()
    batches = await run_batcher([seg(o, 3, 1, size=100)], max_bytes=50)
    assert [b.count for b in batches] == [1, 1, 1]


async def test_linger_flushes_a_partial_batch() -> None:
    o = Owner()
    inbox: asyncio.Queue[Segment | None] = asyncio.Queue()
    outbox: asyncio.Queue[Batch | None] = asyncio.Queue()
    task = asyncio.create_task(Batcher(inbox, outbox, max_bytes=10**6, max_events=10**6, linger=0.05).run())
    inbox.put_nowait(seg(o, 2, 1))
    batch = await asyncio.wait_for(outbox.get(), 1)
    assert batch is not None and batch.count == 2
    inbox.put_nowait(None)
    await task


def greedy(sizes: list[list[int]], max_bytes: int, max_events: int) -> list[list[tuple[int, int, int]]]:
    """The batches by definition, one item at a time: an item joins the open batch while the batch stays within
    both limits; an item larger than a batch goes alone; a batch that reaches a limit is closed."""
    batches: list[list[tuple[int, int, int]]] = []
    items = [(s, i, n) for s, seg_sizes in enumerate(sizes) for i, n in enumerate(seg_sizes)]
    open_: list[tuple[int, int]] = []
    nbytes = 0
    for s, i, n in items:
        if open_ and (nbytes + n > max_bytes or len(open_) >= max_events):
            batches.append(_slices(open_))
            open_, nbytes = [], 0
        open_.append((s, i))
        nbytes += n
        if nbytes >= max_bytes or len(open_) >= max_events:
            batches.append(_slices(open_))
            open_, nbytes = [], 0
    if open_:
        batches.append(_slices(open_))
    return batches


def _slices(items: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for s, i in items:
        if out and out[-1][0] == s and out[-1][2] == i:
            out[-1] = (s, out[-1][1], i + 1)
        else:
            out.append((s, i, i + 1))
    return out


async def test_batches_are_cut_exactly_where_the_limits_say_on_random_segments() -> None:
    rng = random.Random(18)
    for _ in range(300):
        sizes = [[rng.choice((1, 5, 40, 300)) * rng.randint(1, 3) for _ in range(rng.randint(0, 40))]
                 for _ in range(rng.randint(1, 6))]
        max_bytes, max_events = rng.randint(1, 2000), rng.randint(1, 50)
        o = Owner()
        segs = [Segment(o, [b"x" * n for n in seg_sizes], k) for k, seg_sizes in enumerate(sizes, 1)]
        batches = await run_batcher(segs, max_bytes=max_bytes, max_events=max_events, linger=60)
        got = [[(segs.index(sg), a, b) for sg, a, b in batch.slices] for batch in batches]
        assert got == greedy(sizes, max_bytes, max_events), (sizes, max_bytes, max_events)
        assert all(b.nbytes == sum(len(x) for x in b.items()) for b in batches)
