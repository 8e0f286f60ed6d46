"""Forked: a child computes one function and hands back its pickled result; any failure gives None, never a zombie."""

from __future__ import annotations

import os
import time

import pytest

from observe.kube.forked import Forked


def _reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


async def test_the_child_computes_in_its_own_process_and_the_result_comes_back() -> None:
    child = Forked.start(lambda: (os.getpid(), [b"x" * 10, {"a": 1}]))
    assert child is not None
    pid, value = await child.result()
    assert pid == child.pid != os.getpid() and value == [b"x" * 10, {"a": 1}]
    assert _reaped(child.pid)


async def test_a_large_result_crosses_the_pipe_whole() -> None:
    child = Forked.start(lambda: [bytes([i % 256]) * 1000 for i in range(20_000)])  # 20 MB, more than a pipe holds
    assert child is not None
    result = await child.result()
    assert len(result) == 20_000 and result[257] == b"\x01" * 1000


def _raises() -> None:
    raise ValueError("a bug in the child")


async def test_a_child_that_raises_or_answers_unpicklably_gives_none() -> None:
    for fn in (_raises, lambda: (lambda: 1)):  # a lambda does not pickle
        child = Forked.start(fn)
        assert child is not None
        assert await child.result() is None
        assert _reaped(child.pid)


async def test_kill_stops_and_reaps_a_child_that_was_never_read() -> None:
    child = Forked.start(lambda: time.sleep(60))
    assert child is not None
    child.kill()
    assert _reaped(child.pid)
    assert await child.result() is None  # its pipe is closed, nothing to read
    child.kill()  # twice is harmless


def test_no_fork_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    fds = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "fork", refuse)
    assert Forked.start(lambda: 1) is None
    assert len(os.listdir("/proc/self/fd")) == fds  # the pipe was closed
