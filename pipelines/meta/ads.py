"""The Marketing API through the official `facebook-business` SDK: ad objects and async insights report runs.

The SDK builds the requests (paths, JSON-encoded list parameters, cursor paging, `AdReportRun` objects); its
`FacebookSession.requests` is our retrying, pacing session (helpers.MetaClient), so throttling, retries and usage
headers are handled once for the whole source. `FacebookAdsApi.init()` is not used: it installs the SDK's crash
reporter, which posts tracebacks to Meta.

Insights go through async report runs (`POST /act_{id}/insights`): create, poll `async_status` /
`async_percent_completion` until `Job Completed`, read the rows page by page. A `Job Failed` or `Job Skipped` run,
or one still running after `async_timeout_seconds`, is retried with a new run up to `async_attempts` times; then the
run fails naming the report and the dates. Long ranges are split into chunks of `async_chunk_days`, whose runs are in
flight together (up to `async_concurrent_jobs`) and polled in one round. A range of at most `sync_max_days` (an
incremental run's re-read window, a 28-day reach) is read synchronously instead (`GET /act_{id}/insights`): the same
rows for one call per page, without a run's create and polls. Meta refuses a synchronous read it finds too big
(HTTP 500, code 1, "Please reduce the amount of data you're asking for"); that report, and only on that error, is
then read with async runs like a backfill.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adreportrun import AdReportRun
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from pipelines.common.config import ProviderConfig

from .helpers import GraphApiError, MetaClient, error_from, graph_root, is_too_much_data
from .settings import ATTRIBUTION_WINDOWS, GRAPH_VERSION, INSIGHTS_FIELDS, PURCHASE_ACTION_TYPE

log = logging.getLogger("opsdata.meta")
RUNNING = ("Job Not Started", "Job Started", "Job Running")


class AsyncReportError(RuntimeError):
    """A report run that failed, was skipped or timed out on every attempt."""


def marketing_api(config: ProviderConfig, token: str) -> FacebookAdsApi:
    """An SDK api object whose HTTP goes through our session (one per calling thread: dlt sessions are per thread)."""
    client = MetaClient(config)
    # The SDK passes its session's timeout on every call, overriding our session's default: give it the shared
    # client's (OPSDATA_HTTP_TIMEOUT_SECONDS wins over Meta's 60 s), so a stalled Marketing API call times out and is
    # retried like any other.
    session = FacebookSession(config.credential("app_id"), config.credential("app_secret"), token, timeout=client.timeout)
    http = client.session
    http.params = dict(session.requests.params)  # access_token + appsecret_proof on every call
    session.requests = http
    session.GRAPH = graph_root(config)  # type: ignore[misc]
    return FacebookAdsApi(session, api_version=GRAPH_VERSION)


def _sdk(call: Any, what: str) -> Any:
    try:
        return call()
    except FacebookRequestError as exc:
        raise error_from(exc.http_status(), exc.body(), what) from None


def account(api: FacebookAdsApi, account_id: str) -> AdAccount:
    return AdAccount(account_id if account_id.startswith("act_") else f"act_{account_id}", api=api)


def account_row(acct: AdAccount) -> dict[str, Any]:
    fields = ["id", "account_id", "name", "currency", "timezone_name", "account_status", "attribution_spec", "created_time"]
    data = _sdk(lambda: acct.api_get(fields=fields), f"/{acct['id']}").export_all_data()
    return {**data, "attribution_spec": json.dumps(data.get("attribution_spec") or [], sort_keys=True)}


def objects(acct: AdAccount, edge: str, fields: list[str]) -> Iterator[dict[str, Any]]:
    getter = {"campaigns": acct.get_campaigns, "adsets": acct.get_ad_sets, "ads": acct.get_ads}[edge]
    cursor = _sdk(lambda: getter(fields=fields, params={"limit": 100}), f"/{acct['id']}/{edge}")
    while True:
        try:
            item = next(cursor)
        except StopIteration:
            return
        except FacebookRequestError as exc:
            raise error_from(exc.http_status(), exc.body(), f"/{acct['id']}/{edge}") from None
        yield item.export_all_data()


def chunks(since: date, until: date, days: int) -> Iterator[tuple[date, date]]:
    start = since
    while start <= until:
        stop = min(until, start + timedelta(days=days - 1))
        yield start, stop
        start = stop + timedelta(days=1)


@dataclass
class _Run:
    """One report's async run in flight: its parameters, the attempt it is, the job and when to give up on it."""

    params: dict[str, Any]
    attempt: int = 0
    job: AdReportRun | None = None
    deadline: float = 0.0


def run_reports(acct: AdAccount, name: str, params_list: list[dict[str, Any]], *, poll_seconds: float,
                timeout_seconds: float, attempts: int, concurrent: int = 1) -> Iterator[list[dict[str, Any]]]:
    """The rows of each report of `params_list` (e.g. the 90-day chunks of one insights table), in that order.

    Up to `concurrent` async runs are in flight at once and polled in one round every `poll_seconds`: Meta computes
    report runs on its side, so a year in five chunks waits about one run's time instead of five, for the same
    number of calls (each run is created once and polled until done, as before). A failed, skipped or timed-out run
    is retried with a new run, up to `attempts` runs per report; then the whole read fails naming that report."""
    if os.environ.get("OPSDATA_FAST_RETRIES"):
        poll_seconds = min(poll_seconds, 0.01)
    runs = [_Run(dict(params)) for params in params_list]
    done: dict[int, list[dict[str, Any]]] = {}
    waiting = list(range(len(runs)))  # not started yet, in order
    active: list[int] = []
    next_out = 0
    while next_out < len(runs):
        while waiting and len(active) < max(1, concurrent):
            i = waiting.pop(0)
            _start(acct, runs[i], timeout_seconds)
            active.append(i)
        for i in list(active):
            rows = _poll(acct, name, runs[i], timeout_seconds, attempts)
            if rows is not None:
                done[i] = rows
                active.remove(i)
        while next_out in done:
            yield done.pop(next_out)
            next_out += 1
        if active:
            time.sleep(poll_seconds)


def read_report(acct: AdAccount, name: str, params: dict[str, Any],
                run_async: Callable[[], Iterator[list[dict[str, Any]]]]) -> Iterator[list[dict[str, Any]]]:
    """The rows of a small report read synchronously (`GET /act_{id}/insights`, page by page): one call per page of
    500 rows, where an async run costs its create, its polls and its reads. For short ranges (the re-read window, a
    28-day reach); if Meta still finds it too big, `run_async()` reads it instead (the rows of the refused read, if
    any page came, are dropped: the async run returns the whole report)."""
    path = f"/{acct['id']}/insights"
    try:
        rows = _all_rows(_sdk(lambda: acct.get_insights(params=dict(params)), path), path)
    except GraphApiError as exc:
        if not is_too_much_data(exc.code, exc.graph_message):
            raise
        log.warning("meta: Meta refused the synchronous read of %s as too much data; reading it with async report "
                    "runs instead", _what(name, params))
        yield from run_async()
        return
    yield rows


def _all_rows(cursor: Any, path: str) -> list[dict[str, Any]]:
    """Every row of an insights cursor (the SDK requests each next page as the loop reaches it)."""
    try:
        return [row.export_all_data() for row in cursor]
    except FacebookRequestError as exc:
        raise error_from(exc.http_status(), exc.body(), path) from None


def run_report(acct: AdAccount, name: str, params: dict[str, Any], *, poll_seconds: float, timeout_seconds: float,
               attempts: int) -> list[dict[str, Any]]:
    """Create an async report run, wait for it, return its rows; retry failed, skipped and timed-out runs."""
    (rows,) = run_reports(acct, name, [params], poll_seconds=poll_seconds, timeout_seconds=timeout_seconds,
                          attempts=attempts)
    return rows


def _what(name: str, params: dict[str, Any]) -> str:
    return f"{name} {params.get('time_range') or params.get('date_preset')}"


def _start(acct: AdAccount, run: _Run, timeout_seconds: float) -> None:
    run.attempt += 1
    run.job = _sdk(lambda: acct.get_insights(params=dict(run.params), is_async=True), f"/{acct['id']}/insights")
    run.deadline = time.monotonic() + timeout_seconds


def _poll(acct: AdAccount, name: str, run: _Run, timeout_seconds: float, attempts: int) -> list[dict[str, Any]] | None:
    """Poll the run once: its rows once completed; None while it runs (or after starting a new attempt)."""
    job = run.job
    assert job is not None
    job = _sdk(lambda: job.api_get(fields=[AdReportRun.Field.async_status, AdReportRun.Field.async_percent_completion]),
               f"/{job['id']}")
    status = job[AdReportRun.Field.async_status]
    if status == "Job Completed":
        path = f"/{job['id']}/insights"
        return _all_rows(_sdk(lambda: job.get_insights(params={"limit": 500}), path), path)
    if status in RUNNING and time.monotonic() <= run.deadline:
        return None
    percent = job.get(AdReportRun.Field.async_percent_completion)
    last = (f"{status} at {percent}%" if status not in RUNNING
            else f"still '{status}' ({percent}%) after {timeout_seconds:.0f}s")
    log.warning("meta: report run %s for %s ended %s (attempt %d of %d)", job["id"], _what(name, run.params), last,
                run.attempt, attempts)
    if run.attempt >= attempts:
        raise AsyncReportError(f"meta: the async report {_what(name, run.params)} did not complete after {attempts} "
                               f"attempts (last: {last}); Meta may be overloaded: the next run retries the same dates")
    _start(acct, run, timeout_seconds)
    return None


def _stat(entries: Any, action_type: str, key: str) -> Decimal:
    for e in entries or []:
        if e.get("action_type") == action_type and e.get(key) not in (None, ""):
            return Decimal(str(e[key]))
    return Decimal(0)


def insight_row(raw: dict[str, Any], breakdowns: list[str], attribution_spec: str) -> dict[str, Any]:
    """One insights row with typed measures and the purchases of the one counted action type, per window."""
    actions, values = raw.get("actions") or [], raw.get("action_values") or []
    row: dict[str, Any] = {
        "account_id": raw.get("account_id"), "campaign_id": raw.get("campaign_id"), "campaign_name": raw.get("campaign_name"),
        "adset_id": raw.get("adset_id"), "ad_id": raw.get("ad_id"), "ad_name": raw.get("ad_name"),
        "date": date.fromisoformat(raw["date_start"]), "date_stop": date.fromisoformat(raw["date_stop"]),
        "currency": raw.get("account_currency"),
        "spend": Decimal(str(raw.get("spend") or 0)), "impressions": int(raw.get("impressions") or 0),
        "reach": int(raw.get("reach") or 0), "clicks": int(raw.get("clicks") or 0),
        "inline_link_clicks": int(raw.get("inline_link_clicks") or 0),
        "purchases": int(_stat(actions, PURCHASE_ACTION_TYPE, "value")),
        "purchase_value": _stat(values, PURCHASE_ACTION_TYPE, "value"),
        "purchase_roas": _stat(raw.get("purchase_roas"), PURCHASE_ACTION_TYPE, "value") if raw.get("purchase_roas") else None,
        "attribution_setting": raw.get("attribution_setting"), "account_attribution_spec": attribution_spec,
        "actions": json.dumps(actions, sort_keys=True), "action_values": json.dumps(values, sort_keys=True),
    }
    for window in ATTRIBUTION_WINDOWS:
        row[f"purchases_{window}"] = int(_stat(actions, PURCHASE_ACTION_TYPE, window))
        row[f"purchase_value_{window}"] = _stat(values, PURCHASE_ACTION_TYPE, window)
    for b in breakdowns:
        row[b] = raw.get(b)
    return {k: v for k, v in row.items() if v is not None or k in ("purchase_roas",)}


def report_params(level: str, breakdowns: list[str], time_increment: str, since: date | None = None, until: date | None = None,
                  date_preset: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "level": level, "fields": INSIGHTS_FIELDS, "time_increment": time_increment,
        "action_attribution_windows": ATTRIBUTION_WINDOWS, "use_unified_attribution_setting": True,
        "action_report_time": "impression", "limit": 500,
    }
    if breakdowns:
        params["breakdowns"] = breakdowns
    if date_preset:
        params["date_preset"] = date_preset
    else:
        params["time_range"] = {"since": since.isoformat(), "until": until.isoformat()}  # type: ignore[union-attr]
    return params


__all__ = ["AsyncReportError", "GraphApiError", "account", "account_row", "chunks", "insight_row", "marketing_api", "objects",
           "read_report", "report_params", "run_report", "run_reports"]
