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


def _greedy_sends(rate: float, capacity: int, seconds: float) -> list[float]:
    """When a full bucket lets requests through if they are sent as fast as it allows: `capacity` at once, then
    one per 1/rate seconds (a virtual clock, no sleeping)."""
    return [0.0] * capacity + [k / rate for k in range(1, int(seconds * rate) + 1)]


def _busiest(sends: list[float], window: float) -> int:
    """Most sends in any half-open window [t, t + window)."""
    best, j = 0, 0
    for i, t in enumerate(sends):
        while sends[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.mark.parametrize("burst, steady", [(1, 15), (3, 60), (10, 150), (75, 750), (350, 3500)])
def test_a_bucket_fitted_to_two_windows_never_exceeds_either(burst: int, steady: int) -> None:
    """Klaviyo's tiers: `burst` per second and `steady` per minute, both kept by one token bucket (never more in any
    1 s or 60 s window, even with sends 15% closer together than planned), at most of the steady rate."""
    from pipelines.common.http import limit_within_windows

    limit = limit_within_windows([(burst, 1.0), (steady, 60.0)])
    sends = [t / 1.15 for t in _greedy_sends(limit.per_second, limit.burst, 300)]  # latency squeezes them together
    assert _busiest(sends, 1.0) <= burst
    assert _busiest(sends, 60.0) <= steady
    assert limit.per_second * 60 >= 0.8 * steady  # and it does not waste the allowance


def test_token_bucket_adopts_the_servers_view() -> None:
    bucket = TokenBucket(rate=100, capacity=1000)
    bucket.sync(10, rate=50, capacity=2000)
    assert (bucket.rate, bucket.capacity) == (50, 2000)
    assert 0 < bucket.wait_time(60) <= 1.0  # 50 more points at 50/s
    bucket.sync(5000)  # never more than a full bucket
    assert bucket.wait_time(2000) == 0


def _json_response(body: bytes, url: str = "https://api.example.com/v1/things?key=sk_test_secret&page=2") -> Response:
    from requests import PreparedRequest

    response = Response()
    response.status_code, response._content = 200, body
    response.headers = CaseInsensitiveDict({"Content-Type": "application/vnd.api+json; charset=utf-8"})
    request = PreparedRequest()
    request.prepare(method="GET", url=url)
    response.request, response.url = request, url
    return response


def test_a_truncated_json_body_is_reported_by_url_and_byte_offset_never_by_content() -> None:
    from pipelines.common.errors import MalformedResponseError
    from pipelines.common.http import check_json

    body = '{"data": [{"email": "ana.lopez.1@example.com", "name": "Ana Ló'.encode()
    with pytest.raises(MalformedResponseError) as failure:
        check_json("acme", _json_response(body))
    message = str(failure.value)
    assert message.startswith("acme: malformed JSON in the response to GET https://api.example.com/v1/things: ")
    # The parser stops at the string the cut left open; the offset counts bytes (the "ó" is two of them).
    opened = body.index(b'"Ana')
    assert message.endswith(f"(byte {opened} of {len(body)})"), message
    assert "example.com\"" not in message and "ana" not in message.lower() and "sk_test" not in message
    check_json("acme", _json_response(b'{"data": []}'))  # whole bodies pass
    not_json = _json_response(b"<html>")
    not_json.headers["Content-Type"] = "text/html"
    check_json("acme", not_json)  # only JSON bodies are checked


def test_a_providers_own_decoder_parses_the_body_once_and_a_failure_is_malformed() -> None:
    """`ProviderClient(decoder_for=...)`: the decoder's result is what `response.json()` gives; a body it cannot parse
    is a malformed response, as with the generic parser."""
    import msgspec

    from pipelines.common.errors import MalformedResponseError
    from pipelines.common.http import check_json

    class Page(msgspec.Struct):
        data: list[int]

    decode = msgspec.json.Decoder(Page).decode
    response = _json_response(b'{"data": [1, 2], "links": {"self": "x"}}')
    check_json("acme", response, decode)
    assert response.json() == Page(data=[1, 2])
    with pytest.raises(MalformedResponseError, match="malformed JSON in the response to GET https://api.example.com/v1/things"):
        check_json("acme", _json_response(b'{"data": [1, 2'), decode)


def test_safe_url_drops_query_fragment_and_user_info() -> None:
    from pipelines.common.errors import safe_url

    assert safe_url("https://user:pw@graph.example.com:8443/v19/act_1/insights?access_token=EAAB&x=1#f") == (
        "https://graph.example.com:8443/v19/act_1/insights"
    )


def test_drift_is_every_way_a_committed_column_can_change_type() -> None:
    from pipelines.common.raw_schema import find_drift, new_columns

    committed = {
        "charges": {"id": {"data_type": "text"}, "amount": {"data_type": "bigint"}, "outcome__type": {"data_type": "text"},
                    "metadata": {"data_type": "json"}},
        "charges__refunds": {"value": {"data_type": "text"}},
    }

    def after(**tables: dict[str, str]) -> dict[str, dict[str, dict[str, str]]]:
        merged = {t: dict(c) for t, c in committed.items()}
        for table, columns in tables.items():
            merged.setdefault(table, {}).update({c: {"data_type": kind} for c, kind in columns.items()})
        return merged

    drift = find_drift(committed, after(charges={"amount__unexpected": "bigint"}))  # a scalar became an object
    assert [(d.table, d.column, d.expected, d.arrived) for d in drift] == [("charges", "amount", "bigint", "object")]
    assert find_drift(committed, after(charges__amount={"value": "bigint"}))[0].arrived == "array"  # became a list
    assert find_drift(committed, after(charges={"outcome": "text"}))[0].expected == "object"  # object became text
    assert find_drift(committed, after(charges={"refunds": "text"}))[0].expected == "array"  # list became text
    assert find_drift(committed, after(charges={"metadata__plan": "text"})) == []  # inside a JSON column: not ours
    grown = after(charges={"loyalty_tier": "text"}, disputes={"id": "text"})
    assert find_drift(committed, grown) == []
    assert new_columns(committed, grown) == ["charges.loyalty_tier (text)"]  # noted; a new table is not a new column
    assert find_drift({}, grown) == [] and new_columns({}, grown) == []  # a first load has nothing to drift from


class _Canned:
    """An HTTP adapter that answers from a list of (status, headers, body) and counts what it was sent."""

    def __init__(self, *answers: tuple[int, dict[str, str], bytes]) -> None:
        self.answers, self.sent = list(answers), 0

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        status, headers, body = self.answers[min(self.sent, len(self.answers) - 1)]
        self.sent += 1
        response = Response()
        response.status_code, response._content, response.url, response.request = status, body, request.url, request
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json", **headers})
        return response

    def close(self) -> None:
        pass


def _client(adapter: _Canned, monkeypatch: pytest.MonkeyPatch, **kwargs):  # type: ignore[no-untyped-def]
    from pipelines.common.http import ProviderClient

    monkeypatch.setenv("OPSDATA_FAST_RETRIES", "1")
    client = ProviderClient("acme", None, request_max_attempts=3, **kwargs)
    client.adapter = adapter  # type: ignore[assignment]
    return client


def test_every_bucket_of_a_request_is_paced_and_drained_by_a_429(monkeypatch: pytest.MonkeyPatch) -> None:
    account, endpoint = TokenBucket(rate=2, capacity=5), TokenBucket(rate=2, capacity=5)
    seen: list[int] = []
    adapter = _Canned((429, {"Retry-After": "0"}, b"{}"), (200, {}, b'{"ok": true}'))
    client = _client(adapter, monkeypatch, limiter_for=lambda request: (account, endpoint),
                     on_response=lambda response: seen.append(response.status_code))
    assert client.get("https://api.example.com/v1/things").json() == {"ok": True}
    assert adapter.sent == 2 and seen == [429, 200]
    assert account._tokens < 1 and endpoint._tokens < 1  # both emptied by the 429, then one taken by the retry


def test_a_401_is_not_retried_and_says_what_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.common.errors import CredentialsRejected

    adapter = _Canned((401, {}, b'{"error": "invalid key for ana.lopez.1@example.com"}'))
    client = _client(adapter, monkeypatch, fix_hint="set ACME_API_KEY")
    with pytest.raises(CredentialsRejected) as failure:
        client.get("https://api.example.com/v1/things?api_key=abc123456")
    assert adapter.sent == 1 and failure.value.status == 401
    assert str(failure.value) == (
        "acme: the API rejected the credentials (HTTP 401 for GET https://api.example.com/v1/things); "
        "retrying will not help: set ACME_API_KEY"
    )


def test_a_body_that_stays_malformed_is_retried_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.common.errors import MalformedResponseError

    adapter = _Canned((200, {}, b'{"data": [1, 2'))
    with pytest.raises(MalformedResponseError, match=r"\(byte 14 of 14\) \(the same after 3 attempts\)$"):
        _client(adapter, monkeypatch).get("https://api.example.com/v1/things")
    assert adapter.sent == 3
