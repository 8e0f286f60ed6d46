"""Jittered exponential backoff between attempts: the sink's retries and the shipper's supervision share it."""

from __future__ import annotations

import random


class Backoff:
    """Jittered exponential backoff, from `initial` doubling up to `maximum` seconds."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.delay = initial

    def reset(self) -> None:
        """Back to the initial delay (an attempt made progress)."""
        self.delay = self.initial

    def next(self) -> float:
        """The seconds to wait now (half to all of the current delay); doubles the delay for next time."""
        wait = self.delay * random.uniform(0.5, 1.0)
        self.delay = min(self.delay * 2, self.maximum)
        return wait
