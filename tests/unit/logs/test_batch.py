"""Batching by bytes/count/linger and contiguous acknowledgement."""

import asyncio

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
