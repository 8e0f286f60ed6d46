"""Shared test setup: every tests/peers module is a plugin (its fixtures start real servers), a guard
fails any async test that blocks the event loop, and a failing test shows the logs of the peers it used."""

from __future__ import annotations

import asyncio
import logging
import os
import pkgutil
import re
from collections.abc import Generator, Iterator
from typing import Any

import pytest

import tests.peers as _peers
from tests.peers.base import RUNNING

pytest_plugins = [
    f"tests.peers.{m.name}" for m in pkgutil.iter_modules(_peers.__path__) if not m.name.startswith("_") and m.name != "base"
]

# A callback that holds the loop longer than this fails the test (aiohttp's habit, made ours).
# asyncio reports callbacks slower than 0.1 s (its slow_callback_duration); a larger limit filters those.
BLOCK_LIMIT_S = float(os.environ.get("OBSERVE_TEST_BLOCK_LIMIT_S", "0.1"))


class _SlowCallbacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # asyncio debug mode (asyncio_debug in pyproject) logs "Executing <cb> took 0.312 seconds".
        msg = record.getMessage()
        took = re.search(r"took (\d+\.\d+) seconds", msg)
        if msg.startswith("Executing") and took and float(took.group(1)) > BLOCK_LIMIT_S:
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
    try:
        yield
    finally:
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
