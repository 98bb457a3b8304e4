"""The errors every provider raises the same way, and which of them retrying cannot fix.

A `TerminalError` means a person has to change something (a credential, a setting, the pipeline for a changed API)
before the next attempt can succeed: the run fails at once, Airflow does not retry it (`dags/dagkit/defaults.py`
gives every task a retry policy that fails on it), and the failure notifier alerts with the message. Every message
names the provider and what to fix, and never carries a response body, a secret or personal data.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit


class TerminalError(Exception):
    """Retrying will not help: the message says what a person must fix."""


class CredentialsRejected(TerminalError):
    """The API answered 401/403: the credential is wrong, revoked, expired or lacks a permission."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SchemaDriftError(TerminalError):
    """A column we load changed type at the source; nothing of the load was written."""


class MalformedResponseError(Exception):
    """A 2xx response whose JSON body does not parse (e.g. a transfer cut short). Retried by the HTTP layer; raised
    once the retries are spent. Not terminal: a later run may well get a whole body."""

    def __init__(self, provider: str, method: str, url: str, offset: int, size: int, reason: str) -> None:
        self.provider, self.url, self.offset, self.size = provider, safe_url(url), offset, size
        super().__init__(
            f"{provider}: malformed JSON in the response to {method} {self.url}: {reason} (byte {offset} of {size})"
        )


def safe_url(url: str | None) -> str:
    """The URL without its query string, fragment or user info: queries may carry tokens (and, for some APIs, emails)."""
    if not url:
        return "?"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def causes(error: BaseException) -> Iterator[BaseException]:
    """`error` and everything it was raised from (`__cause__`, else `__context__`), each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def terminal_cause(error: BaseException) -> TerminalError | None:
    """The terminal error behind `error` (dlt wraps what a source raises in `PipelineStepFailed`), if any."""
    return next((e for e in causes(error) if isinstance(e, TerminalError)), None)
