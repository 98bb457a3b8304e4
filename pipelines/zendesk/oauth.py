"""Zendesk OAuth: the one-time authorization (code + PKCE) and rotating refresh tokens.

Zendesk documents the refresh-token grant since 2025: `POST /oauth/tokens` with `grant_type=refresh_token` returns
a new access token *and* a new refresh token, and deletes the previous pair
(support.zendesk.com/hc/en-us/articles/9182123625370; api-reference/ticketing/oauth/grant_type_tokens/). There is no
grace period, so the new pair is written to the token store (`pipelines/common/token_store.py`: atomic replace,
fsync, under an exclusive file lock)
before the new access token is used; a crash between Zendesk's answer and that write loses the grant, and
`authorize` must be run again (the error says so). Refreshes are serialised across threads and processes.

Where the first refresh token comes from: `ZENDESK_OAUTH_REFRESH_TOKEN` (seeded once into the store), or
`python -m pipelines.zendesk.oauth authorize` (prints the consent URL, waits for the redirect on
`ZENDESK_OAUTH_REDIRECT_URI`, default http://127.0.0.1:8798/oauth/callback).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import requests
from requests import PreparedRequest
from requests.auth import AuthBase

from pipelines.common.config import ConfigurationError, ProviderConfig, provider_config
from pipelines.common.redaction import register_secret
from pipelines.common.token_store import ProviderTokenStore

from . import settings

DEFAULT_REDIRECT = "http://127.0.0.1:8798/oauth/callback"


class OAuthError(ConfigurationError):
    """The OAuth grant is missing, revoked or expired: a person must run `authorize` again."""


@dataclass
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: float | None
    scope: str = ""

    def expiring(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at - settings.OAUTH_REFRESH_SKEW_SECONDS


class TokenStore(ProviderTokenStore[Tokens]):
    """The shared atomic JSON store (pipelines/common/token_store.py), holding Zendesk's `Tokens`."""

    tokens_type = Tokens
    env = "ZENDESK_TOKEN_STORE"
    filename = "zendesk_oauth.json"


def _token_request(config: ProviderConfig, body: dict[str, Any]) -> Tokens:
    response = requests.post(f"{config.base_url}/oauth/tokens", json=body, timeout=30)
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if response.status_code >= 400 or "access_token" not in payload:
        error = payload.get("error", f"HTTP {response.status_code}") if isinstance(payload, dict) else f"HTTP {response.status_code}"
        raise OAuthError(
            f"zendesk: the OAuth token request failed ({error}). Run `python -m pipelines.zendesk.oauth authorize` again "
            "or set a fresh ZENDESK_OAUTH_REFRESH_TOKEN."
        )
    for key in ("access_token", "refresh_token"):
        register_secret(payload.get(key))
    expires_in = payload.get("expires_in")
    return Tokens(payload["access_token"], payload.get("refresh_token") or "", time.time() + expires_in if expires_in else None,
                  payload.get("scope", ""))


class OAuthSession:
    def __init__(self, config: ProviderConfig, store: TokenStore | None = None) -> None:
        self.config = config
        self.store = store or TokenStore.default()
        self._lock = threading.Lock()
        self._tokens: Tokens | None = None

    def _refresh(self, refresh_token: str) -> Tokens:
        tokens = _token_request(self.config, {
            "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.config.credential("client_id"),
            "client_secret": self.config.credential("client_secret"), "scope": settings.OAUTH_SCOPE,
            "expires_in": settings.OAUTH_ACCESS_TTL_SECONDS,
        })
        self.store.save_tokens(tokens)  # before the new access token is used: the old pair is already gone at Zendesk
        return tokens

    def access_token(self) -> str:
        with self._lock:
            if self._tokens is not None and not self._tokens.expiring():
                return self._tokens.access_token
            with self.store.locked():
                tokens = self.store.load_tokens()  # another worker may have refreshed already
                if tokens is None:
                    seed = self.config.credentials.get("refresh_token")
                    if not seed:
                        raise OAuthError("zendesk: no OAuth grant yet. Run `python -m pipelines.zendesk.oauth authorize` "
                                         "or set ZENDESK_OAUTH_REFRESH_TOKEN.")
                    tokens = self._refresh(seed)
                elif tokens.expiring():
                    tokens = self._refresh(tokens.refresh_token)
                self._tokens = tokens
                return tokens.access_token

    def auth(self) -> AuthBase:
        session = self

        class Bearer(AuthBase):
            def __call__(self, r: PreparedRequest) -> PreparedRequest:
                r.headers["Authorization"] = f"Bearer {session.access_token()}"
                return r

        return Bearer()


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorization_url(config: ProviderConfig, redirect_uri: str, state: str, challenge: str) -> str:
    query = {"response_type": "code", "client_id": config.credential("client_id"), "redirect_uri": redirect_uri,
             "scope": settings.OAUTH_SCOPE, "state": state, "code_challenge": challenge, "code_challenge_method": "S256"}
    return f"{config.base_url}/oauth/authorizations/new?{urlencode(query)}"


def exchange_code(config: ProviderConfig, code: str, verifier: str, redirect_uri: str, store: TokenStore | None = None) -> Tokens:
    tokens = _token_request(config, {
        "grant_type": "authorization_code", "code": code, "client_id": config.credential("client_id"),
        "client_secret": config.credential("client_secret"), "redirect_uri": redirect_uri, "code_verifier": verifier,
        "scope": settings.OAUTH_SCOPE, "expires_in": settings.OAUTH_ACCESS_TTL_SECONDS,
    })
    (store or TokenStore.default()).save_tokens(tokens)
    return tokens


def authorize(config: ProviderConfig, redirect_uri: str) -> Tokens:
    """Print the consent URL, wait for Zendesk's redirect on `redirect_uri`, store the grant."""
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(16)
    parsed = urlparse(redirect_uri)
    received: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            query = parse_qs(urlparse(self.path).query)
            received.update({k: v[0] for k, v in query.items()})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"Zendesk authorization received; you can close this tab.")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer((parsed.hostname or "127.0.0.1", parsed.port or 80), Handler)
    print(f"Open this URL and approve access:\n  {authorization_url(config, redirect_uri, state, challenge)}")
    while "code" not in received and "error" not in received:
        server.handle_request()
    server.server_close()
    if received.get("state") != state or "code" not in received:
        raise OAuthError(f"zendesk: authorization failed ({received.get('error', 'state mismatch')})")
    return exchange_code(config, received["code"], verifier, redirect_uri)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.zendesk.oauth")
    parser.add_argument("command", choices=["authorize", "status", "refresh"])
    args = parser.parse_args()
    config = provider_config("zendesk", auth="oauth")
    store = TokenStore.default()
    if args.command == "authorize":
        authorize(config, os.environ.get("ZENDESK_OAUTH_REDIRECT_URI", DEFAULT_REDIRECT))
        print(f"Stored the grant in {store.path}")
    elif args.command == "status":
        tokens = store.load_tokens()
        print("no grant stored" if tokens is None else f"grant stored; access token expires at {tokens.expires_at}")
    else:
        tokens = store.load_tokens()
        if tokens is None:
            raise SystemExit("no grant stored: run authorize first")
        OAuthSession(config, store)._refresh(tokens.refresh_token)
        print("refreshed")


if __name__ == "__main__":
    main()
