"""Shared test setup: every tests/peers module is a plugin (its fixtures start real servers), a guard
fails any async test that blocks the event loop, and a failing test shows the logs of the peers it used."""

from __future__ import annotations

import asyncio
import logging
import os
import pkgutil
from collections.abc import Generator, Iterator
from typing import Any

import pytest

import tests.peers as _peers
from tests.peers.base import RUNNING

pytest_plugins = [
    f"tests.peers.{m.name}" for m in pkgutil.iter_modules(_peers.__path__) if not m.name.startswith("_") and m.name != "base"
]

# A callback that holds the loop longer than this fails the test (aiohttp's habit, made ours).
BLOCK_LIMIT_S = float(os.environ.get("OBSERVE_TEST_BLOCK_LIMIT_S", "0.1"))


class _SlowCallbacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Executing"):
            self.seen.append(msg)


@pytest.fixture(autouse=True)
def _fail_on_blocked_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail an async test if any callback blocked the event loop for more than BLOCK_LIMIT_S."""
    if not asyncio.iscoroutinefunction(getattr(request.node, "function", None)) or request.node.get_closest_marker(
        "allow_blocking"
    ):
        yield
        return
    handler = _SlowCallbacks()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    orig = asyncio.BaseEventLoop.__init__

    def patched(self: asyncio.BaseEventLoop, *a: Any, **kw: Any) -> None:
        orig(self, *a, **kw)
        self.set_debug(True)
        self.slow_callback_duration = BLOCK_LIMIT_S

    asyncio.BaseEventLoop.__init__ = patched  # type: ignore[method-assign]
    try:
        yield
    finally:
        asyncio.BaseEventLoop.__init__ = orig  # type: ignore[method-assign]
        logger.removeHandler(handler)
    if handler.seen:
        pytest.fail("event loop blocked:\n" + "\n".join(handler.seen[:5]), pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_blocking: the test may block the event loop (say why)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for peer in list(RUNNING):
            report.sections.append((f"peer log: {peer.name} ({peer.log_path})", peer.log_tail(60)))
