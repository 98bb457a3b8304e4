"""The Klaviyo client's pacing against Klaviyo's limits as the simulator enforces them, on a simulated clock.

Klaviyo limits each operation in two fixed windows, a burst per second and a steady limit per minute, and answers
429 when either is exceeded (https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling); the simulator
counts both (`WindowCounter`, a window opened by the first request after the last one closed). The client's tier
limiter must never let more than a window's limit arrive in any span of that window, wherever in its round trip a
request is counted, across parallel threads; and it must not be slower than the windows: a tier's burst goes at once,
and a minute's allowance within the minute.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from requests import ConnectionError as RequestsConnectionError
from requests import Response
from requests.structures import CaseInsensitiveDict

from pipelines.common import http
from pipelines.klaviyo.helpers import tier_windows
from pipelines.klaviyo.settings import TIERS
from sandbox.common import ratelimit


class Clock:
    """Stands in for the `time` module of both sides: `sleep` advances it instead of waiting (threads may share it)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(1e-6, seconds)


def busiest(times: list[float], window: float) -> int:
    """Most of `times` in any half-open span of `window` seconds."""
    times = sorted(times)
    best = j = 0
    for i, t in enumerate(times):
        while times[j] + window <= t:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(http, "time", clock)
    monkeypatch.setattr(ratelimit, "time", clock)
    monkeypatch.setenv("KLAVIYO_RATE_LIMIT_SCALE", "1")
    return clock


@pytest.mark.parametrize("name", list(TIERS))
def test_a_tiers_burst_goes_at_once_and_its_minute_within_the_minute(name: str, clock: Clock) -> None:
    tier = TIERS[name]
    limiter = http.WindowLimiter(tier_windows(tier))
    sent: list[float] = []
    for _ in range(tier.burst):  # a burst in flight together: none waits
        assert limiter.acquire() == 0.0
        sent.append(clock.now)
    for _ in range(tier.burst):
        limiter.release()
    while len(sent) < 3 * tier.steady:  # then one at a time, answered at once: only the windows pace them
        limiter.acquire()
        sent.append(clock.now)
        limiter.release()
    assert sent[: tier.burst] == [0.0] * tier.burst
    assert sum(1 for t in sent if t < 60.0) == tier.steady
    assert busiest(sent, 1.0) <= tier.burst and busiest(sent, 60.0) <= tier.steady


def test_the_xs_tiers_four_profile_counts_go_a_second_and_a_round_trip_apart(clock: Clock) -> None:
    """A run's four groups' counts: the burst window alone spaces them (one token bucket inside both windows, refilled
    at 15 a minute less a margin, sent them 4 s apart)."""
    limiter = http.WindowLimiter(tier_windows(TIERS["XS"]))
    sent = []
    for _ in range(4):
        limiter.acquire()
        sent.append(clock.now)
        clock.sleep(0.1)  # the round trip: Klaviyo counted it somewhere in it
        limiter.release()
    assert sent == pytest.approx([0.0, 1.1, 2.2, 3.3])


@pytest.mark.parametrize("name", list(TIERS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parallel_threads_never_exceed_a_window_wherever_a_request_is_counted(name: str, seed: int, clock: Clock) -> None:
    """Threads sending at once, each request counted by Klaviyo anywhere between its send and its answer (its very
    start, its very end or between: a thread paused before the socket, a slow network, a busy server): the simulator's
    fixed windows refuse none, and no sliding window holds more than its limit."""
    tier = TIERS[name]
    limiter = http.WindowLimiter(tier_windows(tier))
    rng = random.Random(seed)
    trips: list[tuple[float, float]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)
    per_thread = max(4, tier.steady // 4)

    def send() -> None:
        start.wait()
        for _ in range(per_thread):
            limiter.acquire()
            sent = clock.now
            clock.sleep(rng.choice((1, 4, 10, rng.randint(1, 96))) / 64)  # 16 ms to 1.5 s, in binary fractions: no
            # rounding decides whether two requests are a window apart
            answered = clock.now
            limiter.release()
            with lock:
                trips.append((sent, answered))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(trips) == 8 * per_thread

    arrivals = sorted(rng.choice((s, a, (s + a) / 2)) for s, a in trips)
    assert busiest(arrivals, 1.0) <= tier.burst and busiest(arrivals, 60.0) <= tier.steady
    clock.now = arrivals[0]  # the simulator's windows open with the first request
    second, minute = ratelimit.WindowCounter(tier.burst, 1.0), ratelimit.WindowCounter(tier.steady, 60.0)
    refused = 0
    for t in arrivals:
        clock.now = t
        ok_second, _, _ = second.hit()
        ok_minute, _, _ = minute.hit()
        refused += not (ok_second and ok_minute)
    assert refused == 0


def test_a_429_holds_new_requests_for_a_fresh_burst_window(clock: Clock) -> None:
    limiter = http.WindowLimiter([(10, 1.0), (100, 60.0)])
    limiter.acquire()
    limiter.release()
    clock.now = 5.0
    limiter.drain()  # Klaviyo counted requests this client did not (another integration on the account)
    assert limiter.acquire() == pytest.approx(1.0)
    assert clock.now == pytest.approx(6.0)
    limiter.release()
    assert limiter.acquire() == 0.0  # then the burst again


class _Flaky:
    """An adapter whose first send fails before any answer (a dropped connection), then answers 200."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, request: Any, **kwargs: Any) -> Response:
        self.sent += 1
        if self.sent == 1:
            raise RequestsConnectionError("dropped")
        response = Response()
        response.status_code, response._content, response.url, response.request = 200, b"{}", request.url, request
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        return response

    def close(self) -> None:
        pass


def test_the_session_releases_every_attempt_answered_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSDATA_FAST_RETRIES", "1")
    limiter = http.WindowLimiter([(5, 1.0), (50, 60.0)])
    client = http.ProviderClient("acme", None, request_max_attempts=3, limiter_for=lambda request: limiter)
    client.adapter = _Flaky()  # type: ignore[assignment]
    assert client.get("https://api.example.com/v1/things").status_code == 200
    assert client.adapter.sent == 2  # type: ignore[attr-defined]
    assert limiter.in_flight == 0  # else the tier would stall once its burst of requests had leaked


def test_the_tier_limiter_is_one_per_process_and_follows_the_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.klaviyo.helpers import tier_limiter

    monkeypatch.setenv("KLAVIYO_RATE_LIMIT_SCALE", "1")
    http.reset_limiters()
    xs = tier_limiter(TIERS["XS"])
    assert tier_limiter(TIERS["XS"]) is xs
    assert xs.windows == [(1, 1.0), (15, 60.0)]
    monkeypatch.setenv("KLAVIYO_RATE_LIMIT_SCALE", "20")
    assert tier_limiter(TIERS["XS"]).windows == [(20, 1.0), (300, 60.0)]
