"""The loop guard in tests/conftest.py really fails a test that blocks the event loop."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = '''
import asyncio, time

async def test_blocks():
    await asyncio.sleep(0)
    time.sleep(0.35)

async def test_burns_cpu():
    await asyncio.sleep(0)
    end = time.thread_time() + 0.15
    while time.thread_time() < end:
        pass

async def test_yields():
    await asyncio.sleep(0.3)
'''


def test_blocking_async_test_fails_and_yielding_one_passes(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
            "-o", "asyncio_mode=auto", str(probe)]
    out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    # The guard fails the blocking test at teardown (an error) and leaves the yielding one alone.
    assert out.returncode == 1, out.stdout + out.stderr
    assert "ERROR at teardown of test_blocks" in out.stdout and "ERROR at teardown of test_burns_cpu" in out.stdout
    assert "event loop blocked" in out.stdout
    # A loaded machine oversleeps: the stall reported is at least the sleep, never an exact figure.
    took = [float(m) for m in re.findall(r"took (\d+\.\d+) s", out.stdout)]
    assert any(t >= 0.35 for t in took), out.stdout
    assert "test_yields" not in out.stdout.split("short test summary info")[-1]
    # The report says where the blocked task resumed (the blocking call comes after that line).
    assert re.search(r"the task ran from .*test_probe\.py:5 test_blocks", out.stdout), out.stdout
