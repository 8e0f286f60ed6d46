"""Which shard owns an object: FNV-1a 32-bit of the UID modulo the shard count, as kube-state-metrics does."""

from __future__ import annotations

_OFFSET = 0x811C9DC5
_PRIME = 0x01000193


def fnv32a(data: bytes) -> int:
    """The 32-bit FNV-1a hash."""
    h = _OFFSET
    for b in data:
        h = ((h ^ b) * _PRIME) & 0xFFFFFFFF
    return h


def owns(uid: str, shard: int, total: int) -> bool:
    """True when this shard exports the object with this UID."""
    return total <= 1 or fnv32a(uid.encode()) % total == shard
