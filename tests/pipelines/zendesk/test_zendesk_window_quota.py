"""`WindowQuota`, the client's view of a Zendesk fixed-window quota, driven by an injected clock: nothing sleeps, and
waiting for a reset moves the clock instead. A burst goes while the server reports quota left, the client waits for
the reset at none left, the first request of a process goes alone, and parallel threads never put more into a window
than the server allows, also when another client spends part of it."""

from __future__ import annotations

import math
import random
import threading

import pytest
from requests import Request

from pipelines.zendesk.helpers import (
    WindowQuota,
    forget_quotas,
    quotas_for,
    read_account_quota,
    read_export_quota,
    read_users_cursor_quota,
)

WINDOW = 60.0
HANG_GUARD_SECONDS = 120
"""Only if the quota deadlocked would a thread still be running after this (a failure, not a timing assertion)."""


class FakeClock:
    """Time moves only when a request waits for a reset: `sleep` jumps the clock to the end of the wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class FixedWindowServer:
    """Zendesk's incremental-export limit as the simulator counts it: a window starts at the first request after the
    last one ended; a request over the limit is refused (429) and not counted. `others` requests of another client of
    the account are counted at the start of every window, before ours."""

    def __init__(self, clock: FakeClock, limit: int, others: int = 0, header: str = "zendesk-ratelimit-incremental-exports") -> None:
        self.clock, self.limit, self.others, self.header = clock, limit, others, header
        self.start: float | None = None
        self.count = 0
        self.refused = 0
        self.served: dict[float, int] = {}  # our requests served per window (by its start)
        self._lock = threading.Lock()

    def hit(self) -> dict[str, str]:
        with self._lock:
            now = self.clock()
            if self.start is None or now - self.start >= WINDOW:
                self.start, self.count = now, self.others
            resets = max(1, math.ceil(WINDOW - (now - self.start)))  # whole seconds, rounded up
            if self.count >= self.limit:
                self.refused += 1
                return headers(0, resets, self.limit, self.header)
            self.count += 1
            self.served[self.start] = self.served.get(self.start, 0) + 1
            return headers(self.limit - self.count, resets, self.limit, self.header)


def headers(remaining: int, resets: float, total: int = 10, header: str = "zendesk-ratelimit-incremental-exports") -> dict[str, str]:
    return {header: f"total={total}; remaining={remaining}; resets={resets:g}"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def quota(clock: FakeClock) -> WindowQuota:
    return WindowQuota("incremental", read_export_quota, clock=clock, sleep=clock.sleep)


def test_the_first_request_goes_alone_then_a_burst_of_what_the_server_reports_left(clock: FakeClock) -> None:
    q = quota(clock)
    assert q.delay() == 0
    q.acquire()
    assert q.delay() is None  # nothing known of this window: the others wait for the first response
    q.settle(headers(9, 60))
    for _ in range(9):
        assert q.delay() == 0
        assert q.acquire() == 0
    assert q.in_flight == 9
    assert q.delay() is None  # all of the window's quota is in flight
    for remaining in random.Random(7).sample(range(9), 9):  # responses in any order
        q.settle(headers(remaining, 59))
    assert q.delay() == pytest.approx(59 + q.margin)
    assert q.reset_waits == 0 and q.waited == 0


def test_at_none_left_a_request_waits_for_the_reset_and_then_goes_alone(clock: FakeClock) -> None:
    q = quota(clock)
    q.acquire()
    q.settle(headers(0, 42))
    started = clock()
    assert q.acquire() == pytest.approx(42 + q.margin)
    assert clock() - started == pytest.approx(42 + q.margin)
    assert q.reset_waits == 1
    assert q.delay() is None  # a new window: known only once this request's response is in
    q.settle(headers(9, 60))
    assert q.delay() == 0


def test_quota_another_client_spent_is_not_assumed(clock: FakeClock) -> None:
    server = FixedWindowServer(clock, limit=10, others=7)  # another integration spent 7 earlier in the window
    q = quota(clock)
    sent = 0
    while clock() == 1000.0:
        q.acquire()
        q.settle(server.hit())
        sent += 1
    assert server.refused == 0
    assert sent == 4  # the 3 left in that window, then the first of the next after the reset
    assert list(server.served.values()) == [3, 1]


def test_responses_out_of_order_take_the_lowest_count_and_free_what_was_counted(clock: FakeClock) -> None:
    q = quota(clock)
    q.acquire()
    q.settle(headers(9, 60))
    q.acquire()  # A
    q.acquire()  # B, counted by the server after A
    q.settle(headers(7, 59))  # B's response first: A may not be counted yet
    burst = 0
    while q.delay() == 0:
        q.acquire()
        burst += 1
    assert burst == 6
    q.settle(headers(8, 59))  # A's, late: the window's count stays 7, and A is no longer in flight
    assert q.delay() == 0
    q.acquire()
    assert q.delay() is None


def test_a_count_left_is_not_trusted_after_a_pause_but_none_left_holds(clock: FakeClock) -> None:
    q = quota(clock)
    q.acquire()
    q.settle(headers(5, 50))
    clock.sleep(q.trust_seconds + 1)
    q.acquire()
    assert q.delay() is None  # after the pause this one went alone
    q.settle(headers(0, 44))
    clock.sleep(q.trust_seconds + 1)
    assert q.delay() == pytest.approx(44 + q.margin - q.trust_seconds - 1)


def test_a_failed_request_frees_its_slot_and_counts_as_spent(clock: FakeClock) -> None:
    q = quota(clock)
    q.acquire()
    q.settle(headers(2, 60))
    q.acquire()
    q.settle(None)  # no response: the server may have counted it
    q.acquire()
    assert q.delay() is None


def test_without_a_reset_a_response_lowers_the_count_but_does_not_open_a_window(clock: FakeClock) -> None:
    q = WindowQuota("account", read_account_quota, clock=clock, sleep=clock.sleep)
    q.acquire()
    q.settle({"x-rate-limit-remaining": "3", "ratelimit-reset": "10"})
    q.acquire()
    q.settle({"x-rate-limit-remaining": "650"})  # no reset: it may be a new window, or another quota's count
    q.acquire()
    q.settle({"x-rate-limit-remaining": "0"})
    assert q.delay() == pytest.approx(10 + q.margin)
    fresh = WindowQuota("account", read_account_quota, clock=clock, sleep=clock.sleep)
    fresh.acquire()
    fresh.settle({"x-rate-limit-remaining": "0"})  # nothing known, no reset given: a whole window, at the most
    assert fresh.delay() == pytest.approx(60 + fresh.margin)


def test_account_headers_are_read_with_and_without_a_reset() -> None:
    assert read_account_quota({"x-rate-limit-remaining": "699", "ratelimit-reset": "41"}) == (699, 41.0)
    assert read_account_quota({"ratelimit-remaining": "3"}) == (3, None)
    assert read_account_quota({"x-rate-limit-remaining": "0", "retry-after": "7"}) == (0, 7.0)
    assert read_account_quota({}) is None
    assert read_export_quota({"zendesk-ratelimit-incremental-exports": "total=10; remaining=0; resets=12"}) == (0, 12.0)
    assert read_export_quota({"x-rate-limit-remaining": "5"}) is None
    cursor = {"zendesk-ratelimit-incremental-exports-cursor": "total=20; remaining=19; resets=42"}
    assert read_users_cursor_quota(cursor) == (19, 42.0)
    assert read_export_quota(cursor) is None  # the other exports' quota does not take the user export's count
    assert read_users_cursor_quota({"zendesk-ratelimit-incremental-exports": "total=10; remaining=0; resets=12"}) is None


def test_the_cursor_user_export_spends_its_own_quota_and_every_request_the_accounts() -> None:
    forget_quotas()
    base = "https://acme.zendesk.com/api/v2"

    def scopes(path: str) -> list[str]:
        return [q.name.split(" ")[0] for q in quotas_for(Request("GET", f"{base}{path}").prepare())]

    assert scopes("/incremental/users/cursor.json?cursor=abc") == ["users_cursor", "account"]
    assert scopes("/incremental/users/cursor?start_time=1") == ["users_cursor", "account"]
    assert scopes("/incremental/tickets/cursor.json?start_time=1") == ["incremental", "account"]
    assert scopes("/incremental/users.json?start_time=1") == ["incremental", "account"]  # the time-based one shares the 10
    assert scopes("/groups.json") == ["account"]


def test_the_user_export_goes_on_while_the_other_exports_wait_for_their_reset(clock: FakeClock) -> None:
    """The other exports' minute is used up (10); the cursor user export's 20 a minute are its own: its 20 requests are
    served in the same minute, none waits for the exports' reset, and the exports' next request does wait for it."""
    exports_server = FixedWindowServer(clock, 10)
    users_server = FixedWindowServer(clock, 20, header="zendesk-ratelimit-incremental-exports-cursor")
    exports = quota(clock)
    users = WindowQuota("users_cursor", read_users_cursor_quota, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        exports.acquire()
        exports.settle(exports_server.hit())
    started = clock()
    for _ in range(20):
        users.acquire()
        users.settle(users_server.hit())
    assert clock() == started and users.reset_waits == 0
    assert users_server.refused == 0 and list(users_server.served.values()) == [20]
    exports.acquire()  # none left of the exports' minute: this one waits for its reset
    exports.settle(exports_server.hit())
    assert exports.reset_waits == 1 and clock() > started and exports_server.refused == 0


@pytest.mark.parametrize("others", [0, 6])
def test_parallel_threads_never_put_more_into_a_window_than_it_allows(clock: FakeClock, others: int) -> None:
    """Eight threads, 25 requests each, against 10 per window of which another client spends `others` first: every
    request is served and none refused, so no window got more than it allows, and every window is used to the full."""
    limit, threads, each = 10, 8, 25
    server = FixedWindowServer(clock, limit, others)
    q = quota(clock)

    def worker() -> None:
        for _ in range(each):
            q.acquire()
            response = server.hit()  # between the count and the settle, other threads' responses may overtake
            q.settle(response)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(HANG_GUARD_SECONDS)
    assert not any(t.is_alive() for t in pool), "the quota deadlocked"
    assert server.refused == 0
    assert sum(server.served.values()) == threads * each
    assert sorted(server.served.values())[1:] == [limit - others] * (len(server.served) - 1)  # all full but the last
    assert q.in_flight == 0
