"""Run one pure function in a forked child process and get its pickled result back, without blocking the loop.

Why: the first LIST of a large resource is CPU-bound in Python (each pod decoded and rendered, about 80 us), and
one process uses one core while kube-state-metrics' Go uses them all. A forked child inherits the page already in
memory and the renderers already imported, so it costs neither a copy of the page nor a second start-up; it sends
back only its result. The reflector hands it every other page of its first LIST (observe/kube/reflector.py).

The child runs `fn` and nothing else: it never touches the event loop, its sockets or logging (whose locks another
thread may have held at the fork), and it leaves with os._exit. Whatever goes wrong (no fork allowed, the child
killed, a result that does not pickle), `result()` gives None and the caller does the work itself: nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
from collections.abc import Callable
from typing import Any


def _read_all(fd: int) -> bytes:
    chunks = []
    with open(fd, "rb", buffering=0, closefd=True) as pipe:
        while chunk := pipe.read(1 << 20):
            chunks.append(chunk)
    return b"".join(chunks)


def _child(fn: Callable[[], Any], fd: int) -> None:
    code = 1
    try:
        data = pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        code = 0
    finally:  # whatever happened, leave without running the parent's cleanups (atexit, the loop, buffered files)
        os._exit(code)


class Forked:
    """One child computing fn(); `result()` waits for its answer (None when it failed), `kill()` abandons it."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self._fd: int | None = fd  # None once a reader owns it (the reader closes it)
        self._reaped = False

    @classmethod
    def start(cls, fn: Callable[[], Any]) -> Forked | None:
        """Fork a child running fn; None when this process cannot fork (the caller then runs fn itself)."""
        try:
            read_fd, write_fd = os.pipe()
        except OSError:
            return None
        try:
            pid = os.fork()
        except OSError:  # e.g. the container's pids limit
            os.close(read_fd)
            os.close(write_fd)
            return None
        if pid == 0:  # pragma: no cover - the child leaves in _child; coverage does not follow it
            os.close(read_fd)
            _child(fn, write_fd)
        os.close(write_fd)
        return cls(pid, read_fd)

    async def result(self) -> Any | None:
        """The child's result, or None when it died, failed or answered nothing."""
        fd, self._fd = self._fd, None
        if fd is None:
            return None
        try:
            data = await asyncio.to_thread(_read_all, fd)
            status = await asyncio.to_thread(self._wait)
        except BaseException:
            self.kill()
            raise
        if status != 0 or not data:
            return None
        try:
            return pickle.loads(data)
        except Exception:  # a truncated answer: the caller does the work
            return None

    def _wait(self) -> int:
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:  # reaped by kill() meanwhile
            return -1
        self._reaped = True
        return status

    def kill(self) -> None:
        """Stop the child and reap it (no zombie is left behind)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._reaped:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self._reaped = True
