"""glibc malloc tuning for the processes that hold LIST pages of megabytes (the cluster exporter's reflectors).

Both calls are no-ops, returning False, where the C library is not glibc.
"""

from __future__ import annotations

from typing import Any


def _libc(name: str) -> Any:
    """A function of the process's C library, or None where it has none of that name (or no C library loads)."""
    import ctypes  # here, not at import: only the two calls below need it

    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def trim_heap() -> bool:
    """Return the heap's free memory to the OS (glibc malloc_trim); False where there is no glibc."""
    malloc_trim = _libc("malloc_trim")
    return bool(malloc_trim(0)) if malloc_trim is not None else False


# glibc's mallopt() parameter for the size from which malloc maps memory of its own (malloc.h), and its initial value.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def fix_mmap_threshold(size: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Keep glibc's mmap threshold where it starts, so every large buffer goes back to the system when freed.

    glibc raises the threshold to the size of each mapped block that is freed (up to 32 MiB). The cluster exporter's
    LIST pages (0.4 MB gzip'd, 7.7 MB inflated for 4,000 pods, and their decoded message) then come from the heap,
    and the heap's high-water mark depends on where those holes land: at 37,500 pods in one process (a shard of
    150,000) the peak RSS of nine starts ranged 388-439 MiB, and 364-368 in five with this call (RSS after the
    scrapes about the same; sync CPU about 3 % more; docs/exporters.md). Setting it through mallopt() turns the
    adjustment off, as glibc documents. False where there is no glibc mallopt (then nothing changes)."""
    mallopt = _libc("mallopt")
    return bool(mallopt(M_MMAP_THRESHOLD, size)) if mallopt is not None else False
