"""An export that keeps failing fails the run with its own cause, not with what dlt raises while closing the exports
still mid-request in other threads.

The Zendesk source pages its exports in parallel (`parallelized=True`). When one of them fails, dlt closes the
others: its thread pool waits 2 s for running pages, then closing a generator that is still executing in a worker
raises `ValueError: generator already executing`, which replaced the real failure in dlt's `PipelineStepFailed`
(seen at the large world: every export timing out behind the simulator's world build)."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
import requests

from pipelines.common.errors import causes
from pipelines.run import run_provider

SCALE = "60"
HELD_SECONDS = 300
"""How long a held page waits for the run to fail before it gives up (never reached when the handshake works)."""


@pytest.fixture
def zendesk_env(sandbox_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    sandbox_env.state.options["zendesk_rate_scale"] = SCALE
    monkeypatch.setenv("ZENDESK_RATE_LIMIT_SCALE", SCALE)
    return sandbox_env


def test_a_failing_export_fails_the_run_naming_it_while_other_exports_are_mid_request(
    zendesk_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.zendesk import helpers

    zendesk_env.state.add_fault("zendesk", "5xx", count=1_000, path_contains="/incremental/organizations", status=503)
    original = helpers.check_response
    held, release = threading.Event(), threading.Event()

    def handshake(response: requests.Response) -> None:
        # The tickets export's first page is held in its worker thread until the run has failed; the organizations
        # export answers its 503s only once that page is held, so its failure always meets an export mid-request.
        url = response.url or ""
        if "/incremental/tickets/" in url:
            held.set()
            release.wait(HELD_SECONDS)
        elif "/incremental/organizations" in url:
            held.wait(HELD_SECONDS)
        original(response)

    monkeypatch.setattr(helpers, "check_response", handshake)
    try:
        with pytest.raises(Exception) as failure:
            run_provider("zendesk")
    finally:
        release.set()
    assert held.is_set(), "the tickets export never reached its first page"
    message = str(failure.value)
    assert "generator already executing" not in message, message
    # The provider, the resource, what happened, the URL without its query, and after how many attempts.
    assert re.search(r"^zendesk: the organizations resource failed: HTTP 503 for GET http://\S+/api/v2/incremental/organizations\.json "
                     r"\(after 8 attempts\)", message), message
    assert "?" not in message and "start_time" not in message
    # The original error is still the cause, for the traceback.
    assert any(isinstance(e, requests.HTTPError) and e.response is not None and e.response.status_code == 503
               for e in causes(failure.value))
    assert zendesk_env.state.faults["zendesk"][0].remaining == 1_000 - 8  # eight attempts, then it gave up


def dlt_masked_failure(original: BaseException, resource: str) -> BaseException:
    """The chain dlt 1.31 raises when closing the other parallel resources fails: PipelineStepFailed from the
    ValueError, raised while handling the resource's ResourceExtractionError (from the original error)."""
    from dlt.extract.exceptions import ResourceExtractionError

    try:
        try:
            raise ResourceExtractionError(resource, None, str(original), "future") from original
        except ResourceExtractionError:
            raise ValueError("generator already executing")  # noqa: B904 (dlt raises it without a cause)
    except ValueError as masked:
        wrapper = RuntimeError("Pipeline execution failed at `step=extract` ... <class 'ValueError'> generator already executing")
        wrapper.__cause__ = masked
        return wrapper


def test_a_read_timeout_behind_the_masking_error_is_named_with_its_timeout_url_and_attempts() -> None:
    from pipelines.run import failed_resource

    request = requests.Request("GET", "http://127.0.0.1:1/zendesk/api/v2/incremental/tickets/cursor.json?cursor=abc&per_page=1000").prepare()
    timeout = requests.exceptions.ReadTimeout("HTTPConnectionPool(host='127.0.0.1', port=1): Read timed out. (read timeout=60)",
                                              request=request)
    timeout.attempts = 8  # type: ignore[attr-defined]  # as the client layer records it
    found = failed_resource("zendesk", dlt_masked_failure(timeout, "tickets"))
    assert found is not None and found[1] is timeout
    assert str(found[0]) == ("zendesk: the tickets resource failed: ReadTimeout (read timeout=60) for GET "
                             "http://127.0.0.1:1/zendesk/api/v2/incremental/tickets/cursor.json (after 8 attempts)")
    # The source's own error behind the masking one is named too; without the masking, it is left as dlt raised it.
    bug = KeyError("tickets")
    found = failed_resource("zendesk", dlt_masked_failure(bug, "tickets"))
    assert found is not None and str(found[0]) == "zendesk: the tickets resource failed: KeyError: 'tickets'"
    from dlt.extract.exceptions import ResourceExtractionError

    plain = RuntimeError("Pipeline execution failed at `step=extract`")
    plain.__cause__ = ResourceExtractionError("tickets", None, str(bug), "future")
    plain.__cause__.__cause__ = bug
    assert failed_resource("zendesk", plain) is None
    assert failed_resource("zendesk", RuntimeError("unrelated")) is None
