"""Server-side limiters the simulators enforce (the provider's documented limits)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ServerBucket:
    """Leaky/token bucket as providers describe theirs: `capacity` points, refilled at `rate` per second."""

    def __init__(self, capacity: float, rate: float, clock: Callable[[], float] | None = None) -> None:
        # `clock`: a test can pass one that advances per reading, so which requests the bucket refuses does not
        # depend on how busy the machine is. Without one, `time.monotonic` is looked up per reading (not bound
        # here), so a test that replaces this module's `time` drives every bucket.
        self.capacity = capacity
        self.rate = rate
        self._clock = clock or (lambda: time.monotonic())
        self._available = capacity
        self._updated = self._clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._available = min(self.capacity, self._available + (now - self._updated) * self.rate)
        self._updated = now

    def available(self) -> float:
        with self._lock:
            self._refill()
            return self._available

    def try_take(self, amount: float) -> tuple[bool, float]:
        """Take `amount` if available. Returns (taken, seconds until it would be available)."""
        with self._lock:
            self._refill()
            if self._available >= amount:
                self._available -= amount
                return True, 0.0
            return False, (amount - self._available) / self.rate

    def refund(self, amount: float) -> None:
        with self._lock:
            self._refill()
            self._available = min(self.capacity, self._available + amount)


class WindowCounter:
    """Fixed-window request counter (e.g. Zendesk's per-minute limit, Slack's 1 message per second per channel)."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._start = time.monotonic()
        self._count = 0
        self._lock = threading.Lock()

    def hit(self) -> tuple[bool, float, int]:
        """Count a request. Returns (allowed, seconds until the window resets, remaining)."""
        with self._lock:
            now = time.monotonic()
            if now - self._start >= self.window:
                self._start, self._count = now, 0
            reset_in = self.window - (now - self._start)
            if self._count >= self.limit:
                return False, reset_in, 0
            self._count += 1
            return True, reset_in, self.limit - self._count
