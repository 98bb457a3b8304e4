"""Mutable state of a running sandbox: the world, latency, injected faults and request statistics."""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sandbox.world import World

LATENCY_PROFILES: dict[str, tuple[float, float]] = {
    "zero": (0.0, 0.0),
    "fast": (0.005, 0.02),
    "realistic": (0.05, 0.15),
}

FAULT_KINDS = ("5xx", "slow", "malformed", "unknown_field", "type_change", "429")


@dataclass
class Fault:
    kind: str
    remaining: int
    params: dict[str, Any] = field(default_factory=dict)
    path_contains: str | None = None
    skip: int = 0
    """Let this many matching requests through before the fault fires (e.g. break page 2, not page 1)."""


@dataclass
class ProviderStats:
    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    extra: Counter[str] = field(default_factory=Counter)
    first_at: float | None = None
    last_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": {str(k): v for k, v in self.by_status.items()},
            "by_route": dict(self.by_route),
            "throttled": self.throttled,
            "extra": dict(self.extra),
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


class SandboxState:
    def __init__(self, world: World, latency: str | tuple[float, float] = "realistic", options: dict[str, Any] | None = None) -> None:
        self.world = world
        self.options: dict[str, Any] = dict(options or {})
        """Per-provider knobs, e.g. {"shopify_plan": "standard"}; simulators document the keys they read."""
        self.latency = LATENCY_PROFILES[latency] if isinstance(latency, str) else latency
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.stats: dict[str, ProviderStats] = defaultdict(ProviderStats)
        self.store: dict[str, Any] = {}
        """Per-provider mutable data that is not part of the world (sent Slack messages, received imports)."""
        self.lock = threading.RLock()
        self._rng = random.Random(world.seed)

    def latency_seconds(self) -> float:
        lo, hi = self.latency
        return 0.0 if hi <= 0 else self._rng.uniform(lo, hi)

    def add_fault(self, provider: str, kind: str, count: int = 1, path_contains: str | None = None, skip: int = 0, **params: Any) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {FAULT_KINDS}")
        with self.lock:
            self.faults[provider].append(Fault(kind, count, params, path_contains, skip))

    def clear_faults(self, provider: str | None = None) -> None:
        with self.lock:
            if provider is None:
                self.faults.clear()
            else:
                self.faults.pop(provider, None)

    def take_fault(self, provider: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults.get(provider, []):
                if fault.remaining > 0 and (fault.path_contains is None or fault.path_contains in path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.remaining -= 1
                    return fault
        return None

    def reset_stats(self) -> None:
        # Zeroed in place, not dropped: simulators keep a reference to their provider's stats object.
        with self.lock:
            for stats in self.stats.values():
                stats.__dict__.update(ProviderStats().__dict__)

    def provider_store(self, provider: str, factory: Any = dict) -> Any:
        with self.lock:
            if provider not in self.store:
                self.store[provider] = factory()
            return self.store[provider]
