"""Kubernetes resource quantities ("100m", "128Mi", "1.5G", "2e3") as numbers, with KSM's rounding."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

_SUFFIX = {
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50),
    "Ei": Decimal(2**60), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15),
    "E": Decimal(10**18),
}


def parse(text: str | int | float) -> Decimal | None:
    """The exact value of a quantity, or None when it is not one."""
    if isinstance(text, int | float):
        return Decimal(str(text))
    s = text.strip()
    for size in (2, 1):
        if len(s) > size and s[-size:] in _SUFFIX:
            number, scale = s[:-size], _SUFFIX[s[-size:]]
            break
    else:
        number, scale = s, _SUFFIX[""]
    try:
        q = Decimal(number) * scale
    except InvalidOperation:
        return None
    # Decimal also reads "NaN", "Infinity" and "1_000", which no quantity is: ceil() of the first two raised.
    return q if q.is_finite() and "_" not in number else None


def value(text: str | int | float) -> float | None:
    """Quantity.Value(): rounded up to a whole number (bytes, pods, ...)."""
    q = parse(text)
    return None if q is None else float(math.ceil(q))


def cores(text: str | int | float) -> float | None:
    """CPU as cores from MilliValue(), so "100m" is 0.1 and "1" is 1."""
    q = parse(text)
    return None if q is None else math.ceil(q * 1000) / 1000
