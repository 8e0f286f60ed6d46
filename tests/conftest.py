"""Shared test setup: every tests/peers module is a plugin (its fixtures start real servers), a guard
fails any async test that blocks the event loop, and a failing test shows the logs of the peers it used."""

from __future__ import annotations

import asyncio
import gc
import os
import pkgutil
import resource
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.peers as _peers
from tests.peers.base import RUNNING

pytest_plugins = [
    f"tests.peers.{m.name}" for m in pkgutil.iter_modules(_peers.__path__) if not m.name.startswith("_") and m.name != "base"
]

# A callback that holds the loop longer than this fails the test (aiohttp's habit, made ours).
BLOCK_LIMIT_S = float(os.environ.get("OBSERVE_TEST_BLOCK_LIMIT_S", "0.1"))
# With OBSERVE_TEST_NEAR_MISSES=FILE, callbacks that used more than a third of the limit in CPU are appended to FILE
# with their test: the ones a slower or busier machine (a VM's steal time is not run-queue time) would fail.
NEAR_MISSES = os.environ.get("OBSERVE_TEST_NEAR_MISSES")


def _run_queue_reader() -> Callable[[], float]:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat), or a zero clock elsewhere."""
    try:
        fd = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return lambda: 0.0

    def waited() -> float:
        try:
            return int(os.pread(fd, 64, 0).split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    return waited


class _GcClock:
    """Seconds spent in the garbage collector so far (gc.callbacks), on any thread."""

    def __init__(self) -> None:
        self.total = 0.0
        self._start = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._start


_GC = _GcClock()


def _major_faults() -> int:
    """Major page faults of this thread so far (pages read back from disk)."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_majflt


def _await_chain(task: asyncio.Task[Any]) -> str:
    """Where a task's coroutines stand (file:line function, outermost first) while it is suspended."""
    parts: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None and len(parts) < 8:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        parts.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return " > ".join(parts)


class _LoopWatch:
    """Times every event-loop callback, in wall time, in the loop thread's own CPU time, and in time spent
    waiting for a CPU in the run queue.

    A callback blocks the loop when it runs longer than the limit while busy on the CPU, or for three times the
    limit whatever it does (a sleep or blocking I/O uses no CPU). Time the thread was runnable but had no CPU
    (another process held both cores: the kernel's schedstat says how long) is not the callback's doing and is
    left out, so a loaded 2-core machine does not fail tests that do nothing wrong; a sleep, an fsync or a
    blocking socket call is not run-queue time and is still caught.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.seen: list[str] = []
        self.near: list[str] = []
        self._orig = asyncio.events.Handle._run

    def __enter__(self) -> _LoopWatch:
        watch = self
        orig = self._orig
        readers: dict[int, Callable[[], float]] = {}

        def timed_run(handle: asyncio.events.Handle) -> None:
            tid = threading.get_native_id()
            queued = readers.get(tid)
            if queued is None:
                queued = readers[tid] = _run_queue_reader()
            w0, c0, q0, f0, g0 = time.perf_counter(), time.thread_time(), queued(), _major_faults(), _GC.total
            task = getattr(getattr(handle, "_callback", None), "__self__", None)
            resumed = _await_chain(task) if isinstance(task, asyncio.Task) else None
            orig(handle)
            wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
            # A collection of the whole test process's heap (hundreds of tests' objects by the end of a run) is not
            # the callback's doing: it lands on whichever allocation happens to trigger it. Measured, and left out.
            collected = _GC.total - g0
            wall, cpu = wall - collected, cpu - collected
            if NEAR_MISSES and (cpu > watch.limit / 3 or collected > watch.limit / 3):
                watch.near.append(f"{wall:.3f} s wall, {cpu:.3f} s CPU, {collected:.3f} s GC not counted: {handle!r}")
            if wall <= watch.limit:
                return
            runq, faults = queued() - q0, _major_faults() - f0
            own = wall - runq
            if own > watch.limit and (cpu > watch.limit / 2 or own > 3 * watch.limit):
                what = (f"{handle!r} took {wall:.3f} s ({cpu:.3f} s CPU, {runq:.3f} s waiting for a CPU, "
                        f"{faults} major page faults; {collected:.3f} s of garbage collection not counted)")
                if resumed is not None:  # the blocking call is in the code between these two points
                    what += f"\n  the task ran from {resumed}\n  to {_await_chain(task) or 'its end'}"
                if faults and cpu <= watch.limit / 2:
                    # The kernel was paging code or data back in from a disk other processes kept busy: no call of
                    # ours waited. Said on stderr, not failed: a blocking read or fsync causes no major fault.
                    print(f"loop guard: not counted, paging stall: {what}", file=sys.stderr)
                    return
                watch.seen.append(what)

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self._orig  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _fail_on_blocked_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail an async test if any callback blocked the event loop (see _LoopWatch)."""
    if not asyncio.iscoroutinefunction(getattr(request.node, "function", None)) or request.node.get_closest_marker(
        "allow_blocking"
    ):
        yield
        return
    with _LoopWatch(BLOCK_LIMIT_S) as watch:
        yield
    if NEAR_MISSES and watch.near:
        with open(NEAR_MISSES, "a") as f:
            f.writelines(f"{request.node.nodeid}\t{line}\n" for line in watch.near)
    if watch.seen:
        pytest.fail("event loop blocked:\n" + "\n".join(watch.seen[:5]), pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_blocking: the test may block the event loop (say why)")
    config.addinivalue_line("markers", "keep_order: the module's tests share one live stack and follow its life "
                                       "in the order written; the shuffle keeps them in that order (say why)")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the tests of `keep_order` modules back in their written order, wherever the shuffle placed them."""
    kept = [i for i, item in enumerate(items) if item.get_closest_marker("keep_order")]
    ordered = sorted((items[i] for i in kept), key=lambda item: (str(item.path), item.location[1] or 0))
    for i, item in zip(kept, ordered, strict=True):
        items[i] = item


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for peer in list(RUNNING):
            report.sections.append((f"peer log: {peer.name} ({peer.log_path})", peer.log_tail(60)))
