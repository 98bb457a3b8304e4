"""The outbox under load and faults: many reporter processes opening a fresh outbox at once, and senders killed with
SIGKILL at random points. Nothing is ever lost; the bot token posts exactly once; an incoming webhook posts at least
once, a repeat only after a crash inside the POST, and each copy carries the message's `ref`."""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from notifications import jobs
from notifications.outbox import Message, Store
from sandbox import slack

REPORTER = r"""
import sys, threading
from notifications import jobs
from notifications.alerts import Alert
proc, threads, per_thread = (int(a) for a in sys.argv[1:4])
print("ready", flush=True)
sys.stdin.readline()  # the start signal: every reporter opens the fresh outbox at the same moment
errors = []
def report(t):
    for n in range(per_thread):
        try:
            jobs.report_alert(Alert(key=f"p{proc}.t{t}.n{n}", title=f"incident p{proc}.t{t}.n{n}",
                                    purpose="support" if n % 3 == 0 else "alerts"))
        except Exception as exc:
            errors.append(repr(exc))
workers = [threading.Thread(target=report, args=(t,)) for t in range(threads)]
[w.start() for w in workers]
[w.join() for w in workers]
print("errors:", errors, flush=True)
sys.exit(1 if errors else 0)
"""


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.getcwd()}


# Another task process caught half-way through creating the outbox file (as a busy machine deschedules it): it holds
# the creation lock and a write transaction on the new file, not yet in WAL mode, until told to go on.
CREATOR = r"""
import fcntl, sqlite3, sys
path = sys.argv[1]
lock = open(path + ".init.lock", "a")
fcntl.flock(lock, fcntl.LOCK_EX)
conn = sqlite3.connect(path, isolation_level=None)
conn.execute("begin immediate")
conn.execute("create table half_done (x)")
print("creating", flush=True)
sys.stdin.readline()
conn.execute("rollback")
conn.close()
fcntl.flock(lock, fcntl.LOCK_UN)
"""


class GoOnWhenWaiting(logging.Handler):
    """Handshake: when the outbox says it waits for the creator, tell the creator to finish."""

    def __init__(self, creator: subprocess.Popen[str]) -> None:
        super().__init__(logging.INFO)
        self.creator, self.waited = creator, False

    def emit(self, record: logging.LogRecord) -> None:
        if "being created by another process" in record.getMessage() and self.creator.stdin is not None:
            self.waited = True
            self.creator.stdin.write("go\n")
            self.creator.stdin.close()


def test_opening_the_outbox_while_another_process_creates_it_waits(tmp_path: Path) -> None:
    path = tmp_path / "notifications.sqlite"
    creator = subprocess.Popen([sys.executable, "-c", CREATOR, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    handler = GoOnWhenWaiting(creator)
    logger = logging.getLogger("opsdata.sqlite")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        assert creator.stdout is not None and creator.stdout.readline().strip() == "creating"
        store = Store(path)  # used to fail at once: `database is locked` at `pragma journal_mode=wal`
        assert store.enqueue(Message("k", "alerts", "#alerts", "hello"))
    finally:
        logger.removeHandler(handler)
        creator.kill()
        creator.wait()
    assert handler.waited
    assert store.rows("pragma journal_mode") == [{"journal_mode": "wal"}]
    assert [m.key for m in store.messages()] == ["k"]


def test_many_reporter_processes_on_a_fresh_outbox_lose_nothing(fast_slack) -> None:  # type: ignore[no-untyped-def]
    procs, threads, per_thread = 8, 3, 2
    reporters = [
        subprocess.Popen([sys.executable, "-c", REPORTER, str(p), str(threads), str(per_thread)], env=child_env(),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for p in range(procs)
    ]
    for reporter in reporters:  # handshake: all imported and waiting
        assert reporter.stdout is not None and reporter.stdout.readline().strip() == "ready"
    for reporter in reporters:
        assert reporter.stdin is not None
        reporter.stdin.write("go\n")
        reporter.stdin.flush()
    outputs = [r.communicate(timeout=900)[0] for r in reporters]
    assert [r.returncode for r in reporters] == [0] * procs, outputs
    expected = {f"incident p{p}.t{t}.n{n}" for p in range(procs) for t in range(threads) for n in range(per_thread)}
    posted = [m["text"].split("\n")[0] for channel in ("alerts", "support") for m in slack.messages(fast_slack.state, channel)]
    assert Counter(title.split(":rotating_light: ")[-1] for title in posted) == Counter(
        {title: 1 for title in expected}
    ), posted
    store, _ = jobs.context()
    assert {m.status for m in store.messages()} == {"sent"}
    assert len(store.messages()) == len(expected)


def test_a_dead_senders_claim_is_taken_over_a_live_ones_is_not(slack_env, warehouse: Path) -> None:  # type: ignore[no-untyped-def]
    store, settings = jobs.context()
    for key in ("dead", "alive"):
        store.enqueue(Message(key, "alerts", "#alerts", key))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process of this host that is gone (its pid is not reused this fast)
    long_ago, day = time.time() - 600, 86400.0  # margins no busy machine can eat into
    with store.transaction() as conn:
        conn.execute("update outbox set status = 'sending', claimed_at = ?, claimed_by = ? where key = 'dead'",
                     (long_ago, f"{socket.gethostname()}:{dead.pid}:x"))
        conn.execute("update outbox set status = 'sending', claimed_at = ?, claimed_by = ? where key = 'alive'",
                     (long_ago, f"{socket.gethostname()}:{os.getpid()}:x"))
    keys = [m.key for m in store.deliverable(None, lease_seconds=day, request_seconds=30)]
    assert keys == ["dead"]  # its request timed out long ago; the live sender's claim holds until the lease ends
    assert [m.key for m in store.deliverable(None, lease_seconds=day, request_seconds=day)] == []  # maybe in flight
    assert store.claim("alive", lease_seconds=day) is None
    claim = store.claim("dead", lease_seconds=day)
    assert claim is not None and claim.previous == "sending"
    assert [m.key for m in store.deliverable(None, lease_seconds=300, request_seconds=30)] == ["alive"]  # lease over


# A sender that records where it is (a marker per step, written before the next step starts) and kills itself with
# SIGKILL at the n-th marker of a kind (`posted:2`) or at the n-th marker of any kind (`any:7`); the test may also
# SIGKILL it from outside at a random moment.
SENDER = r"""
import os, signal, sys
from collections import Counter
from notifications import delivery, jobs, outbox
markers, kill_at = sys.argv[1], sys.argv[2]
kind, _, nth = kill_at.partition(":")
fd = os.open(markers, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
seen = Counter()
def mark(what, key):
    os.write(fd, f"{os.getpid()} {what} {key}\n".encode())
    seen[what] += 1
    seen["any"] += 1
    if kind in seen and seen[kind] == int(nth):
        os.kill(os.getpid(), signal.SIGKILL)
def around(cls, name, key_of, before, after):
    original = getattr(cls, name)
    def wrapper(self, *args, **kwargs):
        key = key_of(args)
        mark(before, key)
        result = original(self, *args, **kwargs)
        mark(after, key)
        return result
    setattr(cls, name, wrapper)
around(outbox.Store, "claim", lambda a: a[0], "claim", "claimed")
for transport in (delivery.WebhookTransport, delivery.BotTransport):
    around(transport, "find", lambda a: a[0].key, "find", "found")
    around(transport, "post", lambda a: a[0].key, "post", "posted")  # posted: Slack has it, the outbox not yet
around(outbox.Store, "mark_sent", lambda a: a[0], "record", "recorded")
print("started", flush=True)
jobs.flush_outbox()
"""
KILL_POINTS = ("claim", "claimed", "post", "posted", "record", "recorded")
MESSAGES = 16
CRASHES = 10


def in_post_at_death(lines: list[str], pid: str) -> set[str]:
    """Keys this process had started to POST and not yet recorded as sent when it died."""
    open_posts: set[str] = set()
    for line in lines:
        who, what, key = line.split()
        if who != pid:
            continue
        if what == "post":
            open_posts.add(key)
        elif what == "recorded":
            open_posts.discard(key)
    return open_posts


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a dozen Python processes started one after the other: slow on a busy machine
@pytest.mark.parametrize("transport", ["webhook", "bot"])
def test_kill_9_at_random_points_loses_nothing(slack_env, monkeypatch, tmp_path: Path, transport: str) -> None:  # type: ignore[no-untyped-def]
    seed = int(os.environ.get("OPSDATA_KILL_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    monkeypatch.setenv("SLACK_TRANSPORT", transport)
    monkeypatch.setenv("SLACK_OUTBOX_LEASE_SECONDS", "0")  # one sender at a time here: a dead sender's claim is free
    monkeypatch.setenv("SLACK_MIN_INTERVAL_SECONDS", "0.05")
    slack.set_min_interval(slack_env.state, 0.05)
    store, _ = jobs.context()
    keys = [f"m{n:02d}" for n in range(MESSAGES)]
    for n, key in enumerate(keys):
        channel = "#alerts" if n % 2 else "#support"
        store.enqueue(Message(key, "alerts", channel, f"message {key}", [{"type": "section", "text": {"type": "mrkdwn", "text": f"message {key}"}}]))
    markers = tmp_path / "markers.log"
    markers.touch()
    # Every step of a send once (inside the POST included), then random steps, then random moments from outside.
    plan = [f"{kind}:{rng.randint(1, 3)}" for kind in KILL_POINTS] + [f"any:{rng.randint(1, 20)}" for _ in range(2)]
    crashes: list[tuple[str, set[str]]] = []  # (pid, keys whose POST it was inside when killed)
    for attempt in range(3 * CRASHES):
        if len(crashes) >= CRASHES or not [m for m in store.messages() if m.status != "sent"]:
            break
        kill_at = plan[attempt] if attempt < len(plan) else "none:0"
        proc = subprocess.Popen([sys.executable, "-c", SENDER, str(markers), kill_at], env=child_env(),
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        if kill_at == "none:0":
            try:
                proc.wait(timeout=rng.uniform(0.0, 0.8))  # a kill -9 from outside at a random moment
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=900)  # a hang guard: on a starved machine a child's few CPU seconds take minutes
        if proc.returncode == -signal.SIGKILL:
            crashes.append((str(proc.pid), in_post_at_death(markers.read_text().splitlines(), str(proc.pid))))
    # The next scheduled run (or the task retry) delivers whatever is left.
    recovery = subprocess.run([sys.executable, "-c", SENDER, str(markers), "none:0"], env=child_env(), capture_output=True, text=True, timeout=900)
    assert recovery.returncode == 0, recovery.stderr[-3000:]

    posted = [m for channel in ("alerts", "support") for m in slack.messages(slack_env.state, channel)]
    copies = Counter(m["text"].split("\n")[0].removeprefix("message ") for m in posted)
    lost = [k for k in keys if copies[k] == 0]
    duplicates = {k: copies[k] - 1 for k in keys if copies[k] > 1}
    in_post = Counter(key for _pid, open_posts in crashes for key in open_posts)
    print(f"\n{transport}: seed {seed}, {len(keys)} messages, {len(crashes)} kill -9 "
          f"({sum(1 for _p, o in crashes if o)} inside a POST), {len(lost)} lost, {sum(duplicates.values())} duplicate(s)")
    assert lost == []
    assert {m.status for m in store.messages()} == {"sent"}
    assert set(copies) == set(keys)
    assert len(crashes) >= len(KILL_POINTS), "too few senders were killed to prove anything"
    if transport == "bot":
        assert duplicates == {}  # read back from the channel history: exactly once
    else:
        for key, extra in duplicates.items():  # at least once: a repeat only for a crash inside that message's POST
            assert extra <= in_post[key], (key, extra, crashes)
        for m in posted:  # and every copy says which message it is
            assert f"ref {m['text'].split()[1]}" in m["text"]
