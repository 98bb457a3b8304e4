"""Transient HTTP faults, on every provider: ridden out by the shared client layer, and the load ends complete.

"Complete" is checked against a clean reference load of the same world (`reference`): the same tables, the same
row counts, the same primary keys. Faults are injected into the sandbox with `state.add_fault(provider, kind, ...)`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from pipelines.common.errors import MalformedResponseError, causes
from pipelines.common.storage import published_raw_path, raw_db_path
from pipelines.run import run_provider
from tests.failures.conftest import completed_loads, file_digest, raw_fingerprint

RETRY = re.compile(r"retrying (\S+) after (.+?) \(attempt \d+ of \d+, waiting ([\d.]+)s\)")


def retries(caplog: pytest.LogCaptureFixture, provider: str) -> list[tuple[str, str, float]]:
    """(url, reason, wait) of every retry the shared layer logged for `provider`."""
    found = []
    for record in caplog.records:
        message = record.getMessage()
        if record.name == "opsdata.http" and message.startswith(f"{provider}: "):
            match = RETRY.search(message)
            if match:
                found.append((match.group(1), match.group(2), float(match.group(3))))
    return found


@pytest.mark.fault("429 storm with Retry-After")
def test_429_storm_is_ridden_out_honouring_retry_after(
    provider: str, env: Any, reference: Any, caplog: pytest.LogCaptureFixture, outcome: Any
) -> None:
    env.state.add_fault(provider, "429", count=5, retry_after=1)
    with caplog.at_level(logging.INFO):
        run_provider(provider)
    assert env.state.stats[provider].by_status[429] == 5
    waits = [wait for _, reason, wait in retries(caplog, provider) if reason == "HTTP 429"]
    assert len(waits) == 5 and all(wait >= 1 for wait in waits), waits  # Retry-After: 1, honoured every time (backoff: ms)
    assert raw_fingerprint(provider) == reference
    outcome(f"5 x 429 retried after Retry-After ({min(waits):.2f}-{max(waits):.2f}s); load complete")


@pytest.mark.fault("5xx burst")
def test_5xx_burst_is_survived(provider: str, env: Any, reference: Any, caplog: pytest.LogCaptureFixture, outcome: Any) -> None:
    env.state.add_fault(provider, "5xx", count=4, status=503)
    with caplog.at_level(logging.INFO):
        run_provider(provider)
    assert env.state.stats[provider].by_status[503] == 4
    assert [reason for _, reason, _ in retries(caplog, provider)].count("HTTP 503") == 4
    assert raw_fingerprint(provider) == reference
    outcome("4 x 503 retried with backoff; load complete")


@pytest.mark.fault("slow responses past the timeout")
def test_slow_responses_time_out_and_are_retried(
    provider: str, env: Any, reference: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, outcome: Any
) -> None:
    monkeypatch.setenv("OPSDATA_HTTP_TIMEOUT_SECONDS", "3")
    env.state.add_fault(provider, "slow", count=2, seconds=8)  # each answer comes 5 s after the client gave up
    with caplog.at_level(logging.INFO):
        run_provider(provider)
    timeouts = [reason for _, reason, _ in retries(caplog, provider) if "Timeout" in reason]
    # At least the two slowed answers: on a busy machine an ordinary answer can also take longer than the short timeout
    # here, and is retried the same way (a client without a timeout would wait them out: no timeout at all).
    assert len(timeouts) >= 2, retries(caplog, provider)
    assert all(f.remaining == 0 for f in env.state.faults[provider]), "both slowed answers were requested"
    assert raw_fingerprint(provider) == reference
    outcome(f"{len(timeouts)} requests timed out after 3 s ({timeouts[0]}), retried; load complete")


@pytest.mark.fault("malformed page (once)")
def test_a_truncated_page_is_retried(provider: str, env: Any, reference: Any, caplog: pytest.LogCaptureFixture, outcome: Any) -> None:
    env.state.add_fault(provider, "malformed", count=1, skip=1)  # the second response is cut in half
    with caplog.at_level(logging.INFO):
        run_provider(provider)
    malformed = [(url, reason) for url, reason, _ in retries(caplog, provider) if reason.startswith("malformed JSON")]
    assert len(malformed) == 1, retries(caplog, provider)
    assert "?" not in malformed[0][0]  # the URL is logged without its query string
    assert raw_fingerprint(provider) == reference
    outcome(f"truncated response retried ({malformed[0][1]}); load complete")


@pytest.mark.fault("malformed page (persistent)")
def test_a_page_that_stays_malformed_fails_naming_url_and_offset(
    provider: str, env: Any, scanned: list[str], outcome: Any
) -> None:
    run_provider(provider)
    before = raw_fingerprint(provider), completed_loads(raw_db_path(provider), f"raw_{provider}")
    published = file_digest(published_raw_path(provider))
    env.world.advance(10)
    env.state.add_fault(provider, "malformed", count=100_000)
    with pytest.raises(Exception) as failure:
        run_provider(provider)
    scanned.append(str(failure.value))
    error = next((e for e in causes(failure.value) if isinstance(e, MalformedResponseError)), None)
    assert error is not None, f"not a MalformedResponseError: {failure.value!r}"
    message = str(error)
    assert re.search(r"malformed JSON in the response to (GET|POST) http://\S+: .* \(byte \d+ of \d+\)", message), message
    assert "?" not in error.url and provider in message
    assert 0 < error.offset <= error.size and error.size < 10_000_000
    # Nothing of the run was loaded or published.
    assert (raw_fingerprint(provider), completed_loads(raw_db_path(provider), f"raw_{provider}")) == before
    assert file_digest(published_raw_path(provider)) == published
    outcome(f"fails after the retries: MalformedResponseError naming {error.url.split('/', 3)[3]} and byte {error.offset} "
            f"of {error.size}; nothing loaded")
