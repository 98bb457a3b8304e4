"""The Meta HTTP layer: Graph errors, usage-header pacing, `appsecret_proof` on every call, Graph paging.

One `requests` session stack serves both halves of the source: dlt's `RESTClient` (Pages, Instagram) and the
official `facebook-business` SDK (Marketing API), whose `FacebookSession.requests` is replaced by this session.
Underneath, the shared `ProviderClient` retries 429/5xx and connection errors. What Meta adds, written here because no
library reads it:

- throttling arrives as HTTP 400 with Graph error codes (4, 17, 32, 613, 80000-80014) and usage percentages in
  `X-App-Usage`, `X-Business-Use-Case-Usage` and `X-Ad-Account-Usage`. `MetaClient`'s hooks on the shared session
  pace calls once any budget passes `SLOW_DOWN_AT_PERCENT` (slow down before the wall), record every header and, on a
  throttling error, set `Retry-After` from `estimated_time_to_regain_access` so the shared retry policy waits that
  long (wait when hit);
- a token error (190/102) is permanent: `raise_for_graph` turns it into `MetaTokenError`, which names what to renew,
  and it is never retried;
- a synchronous insights read Meta finds too big is refused with HTTP 500, code 1 and "Please reduce the amount of
  data you're asking for" (`is_too_much_data`): the same request gets the same answer, so it is not retried here
  (the shared layer retries every other 5xx) and ads.py reads that report with an async run instead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dlt.sources.helpers.requests.retry import DEFAULT_RETRY_STATUS
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator, SinglePagePaginator
from requests import HTTPError, PreparedRequest, Response
from requests.auth import AuthBase

from pipelines.common.config import ProviderConfig
from pipelines.common.errors import CredentialsRejected
from pipelines.common.http import ProviderClient
from pipelines.common.redaction import redact, register_secret

from .settings import (
    GRAPH_VERSION,
    MAX_PACE_SECONDS,
    RENEW_HINT,
    SLOW_DOWN_AT_PERCENT,
    THROTTLE_CODES,
    TOKEN_CODES,
    TRANSIENT_CODES,
)

log = logging.getLogger("opsdata.meta")

TOKEN_SUBCODES = {458: "the app is no longer installed for this user", 459: "the user's account is checkpointed",
                  460: "the session was invalidated (password change or security reset)", 463: "the token expired",
                  464: "the user is not confirmed", 467: "the token is invalid"}


class GraphApiError(RuntimeError):
    """A Graph API error, with its code, subcode and trace id; the message never carries a token."""

    def __init__(self, message: str, code: int | None, subcode: int | None = None, status: int | None = None,
                 path: str = "", trace: str | None = None) -> None:
        self.code, self.subcode, self.status, self.path, self.trace = code, subcode, status, path, trace
        self.graph_message = message
        detail = f"code {code}" + (f", subcode {subcode}" if subcode else "") + (f", fbtrace_id {trace}" if trace else "")
        super().__init__(redact(f"meta: {path or 'request'} failed ({detail}): {message}"))


class MetaTokenError(CredentialsRejected):
    """The access token was rejected (190/102): renewing it is the only fix, retrying is not. Graph says so with
    HTTP 400 (not 401), so the shared layer cannot tell; this is its `CredentialsRejected` for Meta."""

    def __init__(self, message: str, code: int | None, subcode: int | None, status: int | None = 400, path: str = "") -> None:
        self.code, self.subcode = code, subcode
        why = TOKEN_SUBCODES.get(subcode or 0, "the token is invalid or expired")
        where = f" for {path}" if path else ""
        super().__init__(redact(
            f"meta: the API rejected the credentials (HTTP {status}{where}; Graph code {code}"
            f"{f', subcode {subcode}' if subcode else ''}: {why}): {message}; retrying will not help: {RENEW_HINT}"
        ), status or 400)


TOO_MUCH_DATA_CODE = 1
TOO_MUCH_DATA_TEXT = "reduce the amount of data"
"""Meta's refusal of a synchronous read it finds too big: code 1 (otherwise "unknown, possibly temporary") with
"Please reduce the amount of data you're asking for, then retry your request" and no subcode (public reports in
facebook-python-business-sdk#470, facebook-php-business-sdk#441, airbytehq/airbyte#42562; the remedy Meta documents
is an async job: developers.facebook.com/docs/marketing-api/insights/best-practices)."""


def is_too_much_data(code: Any, message: Any) -> bool:
    return code == TOO_MUCH_DATA_CODE and TOO_MUCH_DATA_TEXT in str(message or "").lower()


def graph_error_of(body: Any) -> dict[str, Any] | None:
    return body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None


def error_from(status: int | None, body: Any, path: str) -> Exception:
    err = graph_error_of(body) or {}
    code, subcode = err.get("code"), err.get("error_subcode")
    message = str(err.get("message") or f"HTTP {status}")
    if code in TOKEN_CODES:
        return MetaTokenError(message, code, subcode, status, path)
    return GraphApiError(message, code, subcode, status, path, err.get("fbtrace_id"))


def _path_of(url: str) -> str:
    return urlsplit(url).path


def raise_for_graph(response: Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    raise error_from(response.status_code, body, _path_of(response.url or ""))


# --- usage-header pacing -------------------------------------------------------------------------------------------
@dataclass
class UsageTracker:
    """What the usage headers said, per budget (`app`, `ads_insights`, `pages`, ...), and the calls sent."""

    highest: dict[str, float] = field(default_factory=dict)
    latest: dict[str, float] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    throttled: Counter[int] = field(default_factory=Counter)
    paced_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, response: Response) -> float | None:
        """Record the response's usage headers; return seconds to regain access if it says we are throttled."""
        found: dict[str, float] = {}
        regain: float | None = None
        app = _json_header(response, "x-app-usage")
        if isinstance(app, dict):
            found["app"] = max(float(app.get(k) or 0) for k in ("call_count", "total_cputime", "total_time"))
        buc = _json_header(response, "x-business-use-case-usage")
        if isinstance(buc, dict):
            for entries in buc.values():
                for e in entries if isinstance(entries, list) else []:
                    kind = str(e.get("type") or "buc")
                    found[kind] = max(found.get(kind, 0.0), *(float(e.get(k) or 0) for k in ("call_count", "total_cputime", "total_time")))
                    eta = float(e.get("estimated_time_to_regain_access") or 0)
                    if eta > 0:
                        regain = max(regain or 0.0, eta * 60)
        acc = _json_header(response, "x-ad-account-usage")
        if isinstance(acc, dict):
            found["ad_account"] = float(acc.get("acc_id_util_pct") or 0)
        with self.lock:
            for kind, pct in found.items():
                self.latest[kind] = pct
                self.highest[kind] = max(self.highest.get(kind, 0.0), pct)
        return regain

    def pace_seconds(self) -> float:
        """How long to wait before the next call: nothing below the threshold, up to MAX_PACE_SECONDS at 100 %."""
        with self.lock:
            worst = max(self.latest.values(), default=0.0)
        if worst < SLOW_DOWN_AT_PERCENT:
            return 0.0
        scale = 0.01 if os.environ.get("OPSDATA_FAST_RETRIES") else 1.0
        return min(1.0, (worst - SLOW_DOWN_AT_PERCENT) / (100 - SLOW_DOWN_AT_PERCENT)) * MAX_PACE_SECONDS * scale

    def reset(self) -> None:
        with self.lock:
            self.highest.clear()
            self.latest.clear()
            self.calls.clear()
            self.throttled.clear()
            self.paced_seconds = 0.0

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {"calls": dict(self.calls), "highest_usage_percent": dict(self.highest), "throttled": dict(self.throttled),
                    "paced_seconds": round(self.paced_seconds, 2)}


usage = UsageTracker()
"""Process-wide: the benchmark and the tests read it."""


def _json_header(response: Response, name: str) -> Any:
    raw = response.headers.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def pace_before_call(request: PreparedRequest) -> None:
    """The shared layer's `on_send`: slow down while a usage budget is past the threshold, count the call."""
    pause = usage.pace_seconds()
    if pause:
        with usage.lock:
            usage.paced_seconds += pause
        time.sleep(pause)
    with usage.lock:
        usage.calls["ads" if "/act_" in (request.url or "") else "graph"] += 1


def read_usage(response: Response) -> None:
    """The shared layer's `on_response`: record the usage headers; on a throttling error, give the retry policy the
    wait the usage header says (Meta sends no Retry-After)."""
    regain = usage.observe(response)
    if response.status_code >= 400:
        err = _error_of(response)
        code = err.get("code") if err else None
        if code in THROTTLE_CODES:
            with usage.lock:
                usage.throttled[int(code)] += 1  # type: ignore[arg-type]
            response.headers["Retry-After"] = str(int(regain or 60))
            log.warning("meta: throttled (code %s) on %s; waiting up to %ss as the usage header says", code,
                        _path_of(response.request.url or ""), response.headers["Retry-After"])


def _error_of(response: Response) -> dict[str, Any] | None:
    try:
        return graph_error_of(json.loads(response.content or b"{}"))
    except ValueError:
        return None


RETRY_STATUSES = tuple(s for s in DEFAULT_RETRY_STATUS if s != 500)
"""The shared layer's retried statuses but 500, which `retry_graph` decides (Meta's too-much-data refusal is a 500)."""


def retry_graph(response: Response | None, exception: BaseException | None) -> bool:
    """Retry Graph throttling and transient errors (HTTP 400 bodies) and HTTP 500s; never a token or permission
    error, nor the too-much-data refusal (retrying the same request gets the same refusal)."""
    if response is None or response.status_code < 400:
        return False
    err = _error_of(response)
    if err and is_too_much_data(err.get("code"), err.get("message")):
        return False
    if response.status_code == 500:
        return True
    if not err:
        return False
    code = err.get("code")
    return bool(code in THROTTLE_CODES or code in TRANSIENT_CODES or (err.get("is_transient") and code not in TOKEN_CODES))


class MetaClient(ProviderClient):
    """The shared retrying client, with Meta's usage-header pacing and Graph-code retries."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config.name, config.rate_limit, status_codes=RETRY_STATUSES, retry_condition=retry_graph, request_timeout=60,
                         on_send=pace_before_call, on_response=read_usage, fix_hint=RENEW_HINT)


def appsecret_proof(app_secret: str, token: str) -> str:
    """HMAC-SHA256 of the token with the app secret, hex: Meta's proof that the call comes from the app's server."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


class GraphTokenAuth(AuthBase):
    """`access_token` + `appsecret_proof` on every call, replacing any already in the URL (Graph's `next` links
    carry the token they were made with)."""

    def __init__(self, token: str, app_secret: str) -> None:
        self.token = token
        self.proof = appsecret_proof(app_secret, token)
        register_secret(token)
        register_secret(self.proof)

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        parts = urlsplit(r.url or "")
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("access_token", "appsecret_proof")]
        query += [("access_token", self.token), ("appsecret_proof", self.proof)]
        r.url = urlunsplit(parts._replace(query=urlencode(query)))
        return r


def graph_root(config: ProviderConfig) -> str:
    """The Graph host without a version: `https://graph.facebook.com`, or `<sandbox>/meta`."""
    return config.base_url


def rest(config: ProviderConfig, client: ProviderClient, token: str) -> RESTClient:
    return RESTClient(base_url=f"{graph_root(config)}/{GRAPH_VERSION}", session=client.session,
                      auth=GraphTokenAuth(token, config.credential("app_secret")),
                      paginator=JSONLinkPaginator(next_url_path="paging.next"), data_selector="data")


def paginate(api: RESTClient, path: str, params: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Every page of a Graph edge, following `paging.next` until Graph leaves it out (a short page is not the end)."""
    try:
        for page in api.paginate(path, params=params or {}):
            yield list(page)
    except HTTPError as exc:
        raise _translated(exc) from None


def get(api: RESTClient, path: str, params: dict[str, Any] | None = None) -> Any:
    """One Graph call (a node, or an edge that pages by time such as insights: never follow its `next`)."""
    try:
        for page in api.paginate(path, params=params or {}, paginator=SinglePagePaginator(), data_selector="$"):
            return page.response.json()
    except HTTPError as exc:
        raise _translated(exc) from None
    raise GraphApiError("no response", None, path=path)


def _translated(exc: HTTPError) -> Exception:
    response = exc.response
    if response is None:
        return GraphApiError(str(exc), None)
    try:
        body = response.json()
    except ValueError:
        body = None
    return error_from(response.status_code, body, _path_of(response.url or ""))
