"""A token bucket: at most `rate` messages a second on average, bursts up to `burst`
(and Throttle, the same with a count of what it dropped)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def allow(self) -> bool:
        """Take one token if there is one."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Throttle:
    """A TokenBucket that also counts the messages dropped in the current episode (a run of
    drops with no message let through), so a caller can report each episode once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._bucket = TokenBucket(rate, burst, clock)
        self.dropped = 0

    def allow(self) -> bool:
        if self._bucket.allow():
            self.dropped = 0
            return True
        self.dropped += 1
        return False
