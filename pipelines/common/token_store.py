"""A small durable store for OAuth tokens: one JSON file, replaced atomically, refreshes serialised by a file lock.

Written for providers whose refresh tokens rotate (each refresh returns a new refresh token and may retire the
old one at once): the new pair must be on disk before the new access token is used. A JSON file in the data folder
(the platform's durable state) works for the CLI, the tests and the Airflow tasks alike; writes go to a temporary
file that is fsynced and renamed over the old one (mode 0600), then the folder is fsynced so the rename survives a
power cut; `locked()` holds an exclusive `flock` so two workers never rotate the same token twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from .redaction import register_secret
from .storage import data_dir


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        return data if isinstance(data, dict) else None

    def save(self, payload: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(payload, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class OAuthTokens(Protocol):
    access_token: str
    refresh_token: str


T = TypeVar("T", bound=OAuthTokens)


class ProviderTokenStore(TokenStore, Generic[T]):
    """A provider's token file holding its `Tokens` dataclass: `data/<filename>`, or the path in `env`. Loaded tokens
    are registered as secrets, so no log line shows them."""

    tokens_type: ClassVar[type]
    env: ClassVar[str]
    filename: ClassVar[str]

    @classmethod
    def default(cls) -> Self:
        override = os.environ.get(cls.env)
        return cls(Path(override) if override else data_dir() / cls.filename)

    def load_tokens(self) -> T | None:
        raw = self.load()
        if raw is None:
            return None
        tokens: T = self.tokens_type(**raw)
        register_secret(tokens.access_token)
        register_secret(tokens.refresh_token)
        return tokens

    def save_tokens(self, tokens: T) -> None:
        self.save(asdict(tokens))  # type: ignore[call-overload]  # every provider's Tokens is a dataclass
