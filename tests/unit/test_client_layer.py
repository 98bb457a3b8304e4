"""The shared client layer: configuration resolution, the rate limiter, backoff, and secret redaction."""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace

import pytest
from requests import Response
from requests.structures import CaseInsensitiveDict

from pipelines.common.config import ConfigurationError, provider_config
from pipelines.common.http import TokenBucket, wait_jittered_retry_after
from pipelines.common.redaction import redact, register_secret


def test_the_sandbox_environment_points_every_provider_at_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.env import client_env
    from sandbox.shopify import SANDBOX_CREDENTIALS
    from tests.conftest import point_at_sandbox

    point_at_sandbox(monkeypatch, "http://127.0.0.1:9999/")
    config = provider_config("shopify")
    assert config.base_url == "http://127.0.0.1:9999/shopify"
    assert config.credential("access_token") == SANDBOX_CREDENTIALS["access_token"]
    assert SANDBOX_CREDENTIALS["access_token"] not in repr(config)
    assert client_env("http://127.0.0.1:9999")["SHOPIFY_ACCESS_TOKEN"] == SANDBOX_CREDENTIALS["access_token"]


def test_production_reads_environment_and_fails_clearly_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHOPIFY_SHOP", "SHOPIFY_ACCESS_TOKEN", "SHOPIFY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="SHOPIFY_SHOP, SHOPIFY_ACCESS_TOKEN"):
        provider_config("shopify")
    monkeypatch.setenv("SHOPIFY_SHOP", "acme")
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", "shpat_prod_token_value")
    config = provider_config("shopify")
    assert config.base_url == "https://acme.myshopify.com"
    assert redact("token shpat_prod_token_value") == "token ***"


def test_production_falls_back_to_the_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHOPIFY_SHOP", "SHOPIFY_ACCESS_TOKEN", "SHOPIFY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    import airflow.sdk

    conn = SimpleNamespace(host="acme.myshopify.com", password="shpat_from_connection")
    monkeypatch.setattr(airflow.sdk.Connection, "get", classmethod(lambda cls, conn_id: conn if conn_id == "shopify_default" else None))
    config = provider_config("shopify")
    assert config.credentials == {"shop": "acme", "access_token": "shpat_from_connection"}


def test_token_bucket_holds_the_rate_across_threads() -> None:
    bucket = TokenBucket(rate=50, capacity=5)
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(10)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    # 40 tokens, 5 in the bucket, 35 earned at 50/s: at least 0.7 s whatever the thread count
    assert elapsed >= 0.65


def test_backoff_uses_retry_after_and_adds_jitter() -> None:
    def state(status: int, headers: dict[str, str], attempt: int) -> SimpleNamespace:
        response = Response()
        response.status_code, response.headers = status, CaseInsensitiveDict(headers)
        return SimpleNamespace(attempt_number=attempt, outcome=SimpleNamespace(exception=lambda: None, result=lambda: response))

    wait = wait_jittered_retry_after(jitter=0.5, multiplier=0.5, max=60)
    waits = {wait(state(429, {"Retry-After": "7"}, 1)) for _ in range(20)}  # type: ignore[arg-type]
    assert all(7 <= w <= 7.5 for w in waits) and len(waits) > 1
    assert 2 <= wait(state(503, {}, 3)) <= 2.5  # type: ignore[arg-type]  # 0.5 * 2**(3-1), plus jitter


def test_registered_secrets_are_masked_in_any_logger(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("sk_test_abcdefghijklmnop")
    caplog.set_level(logging.INFO)
    logging.getLogger("some.library").info("calling with key=%s", "sk_test_abcdefghijklmnop")
    try:
        raise RuntimeError("failed for sk_test_abcdefghijklmnop")
    except RuntimeError:
        logging.getLogger("other").exception("boom")
    assert "sk_test_abcdefghijklmnop" not in caplog.text
    assert "key=***" in caplog.text
