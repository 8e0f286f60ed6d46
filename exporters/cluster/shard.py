"""Which shard owns an object, exactly as kube-state-metrics decides it (pkg/sharding): the 64-bit FNV-1a hash
of the object's UID, put into a bucket by Lamping and Veach's jump consistent hash ("A Fast, Minimal Memory,
Consistent Hash Algorithm", 2014). The same `--shard`/`--total-shards` then split a cluster the same way in both
exporters, and growing the shard count moves only about 1/n of the objects.

Hand-written: both functions are a few lines of integer arithmetic, and no maintained Python package offers them.
"""

from __future__ import annotations

_OFFSET64 = 0xCBF29CE484222325
_PRIME64 = 0x100000001B3
_MASK64 = (1 << 64) - 1
_JUMP = 2862933555777941757


def fnv64a(data: bytes) -> int:
    """The 64-bit FNV-1a hash."""
    h = _OFFSET64
    for b in data:
        h = ((h ^ b) * _PRIME64) & _MASK64
    return h


def jump(key: int, buckets: int) -> int:
    """The bucket (0 <= bucket < buckets) of a 64-bit key under jump consistent hashing."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * _JUMP + 1) & _MASK64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_of(uid: str, total: int) -> int:
    """The shard that exports the object with this UID."""
    return 0 if total <= 1 else jump(fnv64a(uid.encode()), total)


def owns(uid: str, shard: int, total: int) -> bool:
    """True when this shard exports the object with this UID."""
    return total <= 1 or shard_of(uid, total) == shard
