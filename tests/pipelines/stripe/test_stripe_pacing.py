"""The Stripe client's pacing against Stripe's limit as the simulator enforces it, on a simulated clock.

Stripe documents a per-second limit (25 requests/s for test keys, 100 live: https://docs.stripe.com/rate-limits) and
describes its limiter as a token bucket; the simulator enforces it as one (`ServerBucket`, refilled at the limit and
holding one second of it). The client's own bucket must fit inside it with room for requests that reach the server
late and bunched together (network jitter, a server pause): then a client pacing itself never sees a 429, yet uses
nearly all of the limit.
"""

from __future__ import annotations

import random

import pytest

from pipelines.common import http
from pipelines.common.config import ProviderConfig
from pipelines.stripe import settings
from pipelines.stripe.helpers import effective_rate_limit
from sandbox.common import ratelimit
from sandbox.stripe import DEFAULT_LIMITS


class Clock:
    """Stands in for the `time` module of both buckets: `sleep` advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(1e-6, seconds)  # a real sleep always takes a little: a rounding-error wait still moves on


@pytest.mark.parametrize("key", ["sk_test_x", "sk_live_x"])
def test_client_pacing_fits_stripes_bucket_with_late_arrivals_and_uses_the_limit(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(http, "time", clock)
    monkeypatch.setattr(ratelimit, "time", clock)
    config = ProviderConfig("stripe", "https://api.stripe.com", {"api_key": key}, settings.RATE_LIMIT)
    pacing = effective_rate_limit(config, env_override=False)
    client = http.TokenBucket(pacing.per_second, pacing.burst)
    limit = DEFAULT_LIMITS["live" if "_live_" in key else "test"]
    server = ratelimit.ServerBucket(capacity=limit, rate=limit)  # as sandbox.stripe's gate builds it
    rng = random.Random(7)

    sent: list[float] = []
    paused, pauses = 0.0, 0
    for _ in range(int(limit * 300)):  # five minutes at the limit, with a pause of the client's own now and then
        if rng.random() < 0.002:
            pause = rng.uniform(0.05, 1.5)  # a GIL-bound moment: the bucket refills up to its burst meanwhile
            clock.sleep(pause)
            paused, pauses = paused + pause, pauses + 1
        client.acquire()
        sent.append(clock.now)

    # Each request reaches the server 50-150 ms later (the sandbox's realistic latency), and half of them up to half a
    # second later still: requests sent apart arrive together, the worst case for the server's bucket.
    arrivals = sorted(t + rng.uniform(0.05, 0.15) + rng.choice((0.0, rng.uniform(0.0, 0.5))) for t in sent)
    refused = 0
    for t in arrivals:
        clock.now = t
        taken, _ = server.try_take(1)
        refused += not taken
    assert refused == 0
    # Nearly all of the limit whenever the client is not pausing (less the burst it may send after each pause).
    steady_rate = (len(sent) - pacing.burst * (pauses + 1)) / (sent[-1] - sent[0] - paused)
    assert steady_rate >= 0.95 * limit
