"""The cluster exporter keeps glibc's mmap threshold fixed: a large buffer allocated after a larger one was freed is
still mapped on its own, not carved from the heap (where its hole would hold the peak RSS up)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
if sys.argv[1] == "fixed":
    from observe.glibc import fix_mmap_threshold
    assert fix_mmap_threshold()
big = bytearray(8 << 20)
del big  # glibc, left alone, now serves blocks up to 8 MiB from the heap
page = bytearray(2 << 20)
addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
for line in open("/proc/self/maps"):
    if line.rstrip().endswith("[heap]"):
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        print("heap" if lo <= addr < hi else "mapped")
        break
else:
    print("mapped")
"""


def where(mode: str) -> str:
    return subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and /proc are Linux's")
def test_a_large_buffer_is_mapped_on_its_own_after_a_larger_one_was_freed() -> None:
    assert where("default") == "heap"  # what the fix is for: the threshold moved up to 8 MiB
    assert where("fixed") == "mapped"

