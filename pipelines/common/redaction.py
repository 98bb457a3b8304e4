"""Keep secrets out of logs.

Airflow masks Connection passwords in task logs, but credentials from environment variables, refreshed OAuth
tokens and anything that reaches a plain `logging` handler outside Airflow are not masked. Every resolved secret is
registered here; a log record factory replaces it with `***` in every record, and inside Airflow the value is
also handed to Airflow's own masker.
"""

from __future__ import annotations

import logging
import sys
import threading

_secrets: set[str] = set()
_lock = threading.Lock()
MASK = "***"


def register_secret(value: str | None) -> None:
    if not value or len(value) < 6:  # too short to be a credential, and masking it would mangle ordinary text
        return
    with _lock:
        _secrets.add(value)
    _install_filter()
    # Inside an Airflow task the SDK is already imported; outside it, importing it only to learn that would cost
    # seconds of every run's start (airflow.sdk pulls in Airflow's configuration and ORM).
    if "airflow.sdk" not in sys.modules:
        return
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(value)
    except Exception:  # the SDK without a task context
        pass


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _redacting_factory(base):  # type: ignore[no-untyped-def]
    def factory(*args, **kwargs):  # type: ignore[no-untyped-def]
        record = base(*args, **kwargs)
        if _secrets:
            try:
                message = record.getMessage()
            except Exception:
                return record
            redacted = redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
            if record.exc_info and record.exc_info[1] is not None:
                # Exception texts (e.g. an HTTPError with a URL) are formatted later by handlers: pre-render them.
                import traceback

                record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
                record.exc_info = None
        return record

    factory._opsdata_redacting = True  # type: ignore[attr-defined]
    return factory


def _install_filter() -> None:
    # A record factory sees every record of every logger, whatever handlers are attached later (pytest's caplog,
    # Airflow's task handler), which a logging.Filter on selected loggers or handlers would not.
    current = logging.getLogRecordFactory()
    if not getattr(current, "_opsdata_redacting", False):
        logging.setLogRecordFactory(_redacting_factory(current))
