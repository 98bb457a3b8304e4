"""The receiver is a public, unauthenticated endpoint: what an anonymous sender can make it hold is bounded (body size,
bodies at once, time to send one), it never runs without a way to verify signatures, and a signed timestamp must be
fresh in both directions."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from pipelines.stripe.webhook import StripeWebhooks
from sandbox.stripe import SANDBOX_CREDENTIALS
from sandbox.stripe.webhooks import signature_header
from webhooks.app import MAX_BODY_BYTES, create_app

SECRET = SANDBOX_CREDENTIALS["webhook_secret"]
URL = "/webhooks/stripe"
REPO_ROOT = Path(__file__).resolve().parents[2]
EVENT = b'{"id": "evt_1", "object": "event", "type": "charge.succeeded", "created": 1, "data": {"object": {"id": "ch_1"}}}'
MB = 1024 * 1024


def rss_kb(pid: int) -> dict[str, int]:
    """Current (VmRSS) and peak (VmHWM) resident memory of a process, in kB, as the kernel accounts them."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


@pytest.fixture
def receiver_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`uvicorn webhooks.app:app` in its own process (so its memory can be read), on a socket bound here: requests
    queue in the backlog until it serves them, so the first answer is the handshake that it is up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OPSDATA_DATA_DIR": str(tmp_path), "STRIPE_WEBHOOK_SECRET": SECRET,
           "WEBHOOK_PROVIDERS": "stripe"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "webhooks.app:app", "--fd", str(listener.fileno()), "--log-level", "warning"],
        pass_fds=[listener.fileno()], env=env, cwd=REPO_ROOT,
    )
    try:
        yield proc, f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        listener.close()


def hundred_megabytes() -> Iterator[bytes]:
    chunk = b"x" * MB
    for _ in range(100):
        yield chunk


def flood_one(url: str, declared: bool) -> str:
    """One unsigned 100 MB post, with its length declared up front or sent chunked. What the sender saw."""
    headers = {"Content-Type": "application/json", **({"Content-Length": str(100 * MB)} if declared else {})}
    try:
        return str(httpx.post(url + URL, content=hundred_megabytes(), headers=headers, timeout=900).status_code)
    except httpx.TransportError:
        return "closed"  # the receiver hung up on a body it had stopped reading


def test_memory_stays_flat_under_eight_concurrent_unsigned_100_mb_posts(receiver_process: Any) -> None:
    proc, url = receiver_process
    assert httpx.get(url + "/health", timeout=600).json()["ok"] is True  # answered once uvicorn is up
    assert httpx.post(url + URL, content=EVENT, timeout=900).status_code == 400  # unsigned: warm the code path
    before = rss_kb(proc.pid)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda n: flood_one(url, declared=n % 2 == 0), range(8)))
    after = rss_kb(proc.pid)
    print(f"\nreceiver RSS before {before['VmRSS'] / 1024:.0f} MB, after {after['VmRSS'] / 1024:.0f} MB, "
          f"peak {after['VmHWM'] / 1024:.0f} MB; senders saw {dict(Counter(outcomes))}")
    assert set(outcomes) <= {"413", "closed"}, outcomes
    assert "413" in outcomes
    assert after["VmHWM"] - before["VmRSS"] < 64 * 1024  # 8 x 100 MB arrived; at most a few 1 MB bodies were held
    # Still serving, and nothing of the flood was stored.
    signed = httpx.post(url + URL, content=EVENT, headers={"Stripe-Signature": signature_header(EVENT, SECRET)}, timeout=900)
    assert signed.status_code == 200 and signed.json()["duplicate"] is False


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_body_over_the_cap_is_refused_without_reading_it_all(tmp_path: Path, declared: bool) -> None:
    app = create_app(tmp_path / "inbox.sqlite", providers={"stripe": StripeWebhooks(secrets=[SECRET])})
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(50):
            sent += 1
            yield b"x" * (MAX_BODY_BYTES // 4)

    async def post() -> httpx.Response:
        headers = {"Content-Length": str(50 * (MAX_BODY_BYTES // 4))} if declared else {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as client:
            return await client.post(URL, content=body(), headers=headers)

    assert asyncio.run(post()).status_code == 413
    assert sent <= (0 if declared else 5)  # the declared length was refused unread; the stream was dropped past the cap


class StalledBody:
    """A request body that sends one byte, says the receiver is reading it, and waits to be released."""

    def __init__(self) -> None:
        self.reading = asyncio.Event()
        self.release = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"{"
        self.reading.set()  # the receiver asked for more: it holds a body slot
        await self.release.wait()
        yield b"}"


def test_bodies_read_at_once_are_limited_and_a_trickling_sender_is_cut_off(tmp_path: Path) -> None:
    app = create_app(tmp_path / "inbox.sqlite", providers={"stripe": StripeWebhooks(secrets=[SECRET])},
                     max_concurrent_bodies=2, slot_wait_seconds=0.2, body_read_seconds=600)
    trickling_app = create_app(tmp_path / "inbox.sqlite", providers={"stripe": StripeWebhooks(secrets=[SECRET])},
                               body_read_seconds=0.2)

    async def scenario() -> tuple[list[int], httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as client:
            stalled = [StalledBody(), StalledBody()]
            holders = [asyncio.create_task(client.post(URL, content=b)) for b in stalled]
            await asyncio.gather(*(b.reading.wait() for b in stalled))
            refused = await client.post(URL, content=EVENT)  # every slot is taken: not read, told to come back
            for b in stalled:
                b.release.set()
            done = [r.status_code for r in await asyncio.gather(*holders)]
            after = await client.post(URL, content=EVENT, headers={"Stripe-Signature": signature_header(EVENT, SECRET)})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=trickling_app), base_url="http://receiver") as client:
            cut_off = await client.post(URL, content=StalledBody())  # never released
        return done, refused, after, cut_off

    done, refused, after, cut_off = asyncio.run(scenario())
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert done == [400, 400]  # read once a slot was theirs; unsigned, so rejected
    assert after.status_code == 200  # the slots were given back
    assert cut_off.status_code == 408


def test_missing_signing_secret_is_named_on_health_and_refused_standalone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("WEBHOOK_PROVIDERS", "stripe")  # this deployment receives Stripe's webhooks only
    monkeypatch.setenv("OPSDATA_DATA_DIR", str(tmp_path))
    # Inside Airflow: the API server stays up, the provider is reported unhealthy and its deliveries get 503.
    plugin = importlib.reload(importlib.import_module("plugins.webhooks_plugin"))
    client = TestClient(plugin.WebhooksPlugin.fastapi_apps[0]["app"])
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["providers"]["stripe"]["ok"] is False
    assert "STRIPE_WEBHOOK_SECRET" in health.json()["providers"]["stripe"]["missing"]
    delivery = client.post(URL, content=EVENT, headers={"Stripe-Signature": signature_header(EVENT, SECRET)})
    assert delivery.status_code == 503 and "STRIPE_WEBHOOK_SECRET" in delivery.json()["error"]
    # Standalone (`uvicorn webhooks.app:app`): it refuses to start, naming the variable.
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_WEBHOOK_SECRET"}
    started = subprocess.run([sys.executable, "-c", "from webhooks.app import app"], env={**env, "PYTHONPATH": str(REPO_ROOT)},
                             capture_output=True, text=True, timeout=900, cwd=REPO_ROOT)
    assert started.returncode != 0
    assert "refusing to start" in started.stderr and "STRIPE_WEBHOOK_SECRET" in started.stderr
    # Once the secret is there, the same app is healthy without a restart.
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    assert client.get("/health").json()["ok"] is True
    assert client.post(URL, content=EVENT, headers={"Stripe-Signature": signature_header(EVENT, SECRET)}).status_code == 200


@pytest.mark.parametrize(("offset", "status"), [(-240, 200), (-301, 400), (30, 200), (120, 400), (3600, 400)])
def test_signed_timestamps_must_be_fresh_in_both_directions(tmp_path: Path, offset: int, status: int) -> None:
    client = TestClient(create_app(tmp_path / "inbox.sqlite", providers={"stripe": StripeWebhooks(secrets=[SECRET])}))
    header = signature_header(EVENT, SECRET, timestamp=int(time.time()) + offset)
    response = client.post(URL, content=EVENT, headers={"Stripe-Signature": header})
    assert response.status_code == status, response.text
    if status == 400:
        assert ("in the future" if offset > 0 else "timestamp") in response.json()["error"].lower()
