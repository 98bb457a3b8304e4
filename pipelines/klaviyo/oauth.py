"""Klaviyo OAuth 2.0: the one-time authorization (code + PKCE S256) and rotating refresh tokens.

Token persistence: a small JSON file (`<data dir>/klaviyo_oauth.json`, or KLAVIYO_TOKEN_STORE), written atomically
(temp file, fsync, rename) under an exclusive file lock. The data dir is already the durable state of this
platform (raw DuckDB files, dlt state); an Airflow Variable would work too but is not readable by the CLI or the
tests without a metadata database, and Variable writes are not atomic with respect to a crashing task.

Rotation safety: a refresh returns a new access token *and* a new refresh token. The new pair is written to disk
before the new access token is used, so a crash after persisting loses nothing. A crash between Klaviyo's answer
and our write leaves the old refresh token on disk: it is still honoured, because the provider retires a
replaced refresh token only once its successor is used (our sandbox does; this is the assumption documented in
DECISIONS.md). Refreshes are serialised across threads (a lock) and processes (the file lock), and a caller
re-reads the store first, so two workers never rotate the same token twice.

CLI:  python -m pipelines.klaviyo.oauth authorize   (prints the consent URL, waits for the redirect)
      python -m pipelines.klaviyo.oauth status | refresh | revoke
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import logging
import secrets
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from requests import PreparedRequest, Response
from requests.auth import AuthBase

from pipelines.common.config import ConfigurationError, ProviderConfig, provider_config
from pipelines.common.http import ProviderClient
from pipelines.common.redaction import register_secret
from pipelines.common.token_store import ProviderTokenStore

from .settings import AUTHORIZE_URL, OAUTH_SCOPES

log = logging.getLogger("opsdata.klaviyo.oauth")
REFRESH_SKEW_SECONDS = 120
"""Refresh this long before the access token expires, so a request never leaves with a token about to die."""


class OAuthError(ConfigurationError):
    """The OAuth grant is missing, revoked or expired: a person must run `authorize` again (retrying won't help)."""


@dataclass
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: float
    scope: str = ""
    refreshed_at: float = 0.0

    def expiring(self, skew: float = REFRESH_SKEW_SECONDS) -> bool:
        return time.time() >= self.expires_at - skew


class TokenStore(ProviderTokenStore[Tokens]):
    """The shared atomic JSON store (pipelines/common/token_store.py), holding Klaviyo's `Tokens`."""

    tokens_type = Tokens
    env = "KLAVIYO_TOKEN_STORE"
    filename = "klaviyo_oauth.json"


def _token_error(response: Response) -> str:
    try:
        body = response.json()
        return f"{body.get('error')}: {body.get('error_description')}"
    except ValueError:
        return f"HTTP {response.status_code}"


class OAuthSession:
    """Hands out a valid access token, refreshing (and persisting the rotated refresh token) when needed."""

    def __init__(self, config: ProviderConfig, store: TokenStore) -> None:
        self.config = config
        self.store = store
        self.token_url = f"{config.base_url}/oauth/token"
        self.client_id = config.credential("client_id")
        self.client_secret = config.credential("client_secret")
        self._lock = threading.Lock()
        self._tokens: Tokens | None = None
        self.refreshes = 0
        # Token calls are not rate-limited per endpoint; retries cover 5xx/429 (a replayed refresh is safe: the
        # old refresh token stays valid until the new one is used).
        # 400/401 from the token endpoint mean a revoked or expired grant: `_refresh_locked` says so (OAuthError).
        self._http = ProviderClient(f"{config.name}_oauth", None, reject_credentials=False)

    def _current(self) -> Tokens:
        tokens = self.store.load_tokens()
        if tokens is None:
            raise OAuthError(f"klaviyo: no OAuth grant in {self.store.path}. Run: python -m pipelines.klaviyo.oauth authorize")
        return tokens

    def access_token(self) -> str:
        with self._lock:
            if self._tokens is None or self._tokens.expiring():
                self._tokens = self._current()
                if self._tokens.expiring():
                    self._tokens = self._refresh_locked(self._tokens.access_token)
            return self._tokens.access_token

    def refresh(self, stale_access_token: str | None = None) -> str:
        """Refresh unless someone already replaced `stale_access_token`; returns the access token to use."""
        with self._lock:
            self._tokens = self._refresh_locked(stale_access_token)
            return self._tokens.access_token

    def _refresh_locked(self, stale_access_token: str | None) -> Tokens:
        with self.store.locked():
            tokens = self._current()
            if stale_access_token is not None and tokens.access_token != stale_access_token and not tokens.expiring():
                return tokens  # another thread or process refreshed meanwhile
            response = self._http.session.post(
                self.token_url,
                data={"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
                auth=(self.client_id, self.client_secret),
                timeout=30,
            )
            if response.status_code in (400, 401):
                raise OAuthError(
                    f"klaviyo: the OAuth refresh was refused ({_token_error(response)}). The grant was revoked or "
                    "expired; re-authorize with: python -m pipelines.klaviyo.oauth authorize"
                )
            response.raise_for_status()
            fresh = self._tokens_from(response.json(), tokens.refresh_token)
            self.store.save_tokens(fresh)  # persist the rotated refresh token before the new access token is ever used
            self.refreshes += 1
            log.info("klaviyo: OAuth access token refreshed (expires in %ss)", int(fresh.expires_at - time.time()))
            return fresh

    @staticmethod
    def _tokens_from(body: dict[str, Any], previous_refresh: str = "") -> Tokens:
        register_secret(body["access_token"])
        register_secret(body.get("refresh_token"))
        return Tokens(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token") or previous_refresh,
            expires_at=time.time() + float(body.get("expires_in", 3600)),
            scope=body.get("scope", ""),
            refreshed_at=time.time(),
        )

    def auth(self) -> BearerAuth:
        return BearerAuth(self)


class BearerAuth(AuthBase):
    """`Authorization: Bearer <token>`; on a 401 it refreshes once and replays the request (dlt's OAuth helpers
    have no refresh-token grant and no refresh-on-401, hence this small class)."""

    def __init__(self, session: OAuthSession) -> None:
        self.session = session

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.session.access_token()}"
        r.register_hook("response", self._on_response)
        return r

    def _on_response(self, response: Response, **kwargs: Any) -> Response:
        if response.status_code != 401 or getattr(response.request, "_klaviyo_replayed", False):
            return response
        sent = str(response.request.headers.get("Authorization", ""))[len("Bearer "):]
        token = self.session.refresh(stale_access_token=sent)
        replay = response.request.copy()
        replay.headers["Authorization"] = f"Bearer {token}"
        replay._klaviyo_replayed = True  # type: ignore[attr-defined]
        response.content  # noqa: B018 - release the connection before reusing it
        new = response.connection.send(replay, **kwargs)  # type: ignore[attr-defined]
        new.history.append(response)
        new.request = replay
        return new  # type: ignore[no-any-return]


# --- one-time authorization ------------------------------------------------------------------------------------
def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(config: ProviderConfig, challenge: str, state: str) -> str:
    base = config.credentials.get("authorize_url") or AUTHORIZE_URL
    query = {"response_type": "code", "client_id": config.credential("client_id"), "redirect_uri": config.credential("redirect_uri"),
             "scope": OAUTH_SCOPES, "state": state, "code_challenge_method": "S256", "code_challenge": challenge}
    return f"{base}?{urlencode(query)}"


def authorize(config: ProviderConfig, store: TokenStore, get_redirect: Callable[[str], str]) -> Tokens:
    """Run the authorization-code flow: `get_redirect(consent_url)` returns the URL Klaviyo redirected to."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    redirected = get_redirect(authorize_url(config, challenge, state))
    query = parse_qs(urlparse(redirected).query)
    if "error" in query:
        raise OAuthError(f"klaviyo: authorization refused: {query['error'][0]} {query.get('error_description', [''])[0]}")
    if query.get("state", [""])[0] != state:
        raise OAuthError("klaviyo: the redirect's state does not match this request (possible CSRF); start again")
    code = query.get("code", [""])[0]
    if not code:
        raise OAuthError("klaviyo: the redirect carries no authorization code")
    response = ProviderClient(f"{config.name}_oauth", None, status_codes=(), reject_credentials=False).session.post(
        f"{config.base_url}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": config.credential("redirect_uri")},
        auth=(config.credential("client_id"), config.credential("client_secret")),
        timeout=30,
    )
    if response.status_code != 200:
        raise OAuthError(f"klaviyo: the code exchange failed ({_token_error(response)})")
    tokens = OAuthSession._tokens_from(response.json())
    with store.locked():
        store.save_tokens(tokens)
    return tokens


def revoke(config: ProviderConfig, store: TokenStore) -> None:
    tokens = store.load_tokens()
    if tokens is None:
        return
    ProviderClient(f"{config.name}_oauth", None).session.post(
        f"{config.base_url}/oauth/revoke", data={"token": tokens.refresh_token, "token_type_hint": "refresh_token"},
        auth=(config.credential("client_id"), config.credential("client_secret")), timeout=30,
    ).raise_for_status()


def _wait_for_redirect(consent_url: str, redirect_uri: str, timeout: float = 300) -> str:
    """Open the consent page and catch the redirect on the local redirect URI (http://127.0.0.1:<port>/...)."""
    target = urlparse(redirect_uri)
    received: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            received["url"] = f"{redirect_uri.split('?')[0]}?{urlparse(self.path).query}"
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"Klaviyo authorization received. You can close this tab.")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer((target.hostname or "127.0.0.1", target.port or 80), Handler)
    server.timeout = 1
    print(f"Open this URL to authorize the app (a browser should open):\n\n  {consent_url}\n")
    webbrowser.open(consent_url)
    deadline = time.monotonic() + timeout
    while "url" not in received and time.monotonic() < deadline:
        server.handle_request()
    server.server_close()
    if "url" not in received:
        raise OAuthError("klaviyo: no redirect received; pass --redirected-url with the URL your browser landed on")
    return received["url"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.klaviyo.oauth", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    auth_p = sub.add_parser("authorize", help="one-time consent: opens the Klaviyo consent page, stores the tokens")
    auth_p.add_argument("--no-browser", action="store_true", help="print the URL and read the redirected URL from stdin")
    sub.add_parser("status", help="show whether a grant is stored and when the access token expires")
    sub.add_parser("refresh", help="refresh the access token now")
    sub.add_parser("revoke", help="revoke the stored grant at Klaviyo")
    args = parser.parse_args(argv)
    config = provider_config("klaviyo")
    store = TokenStore.default()
    try:
        if args.command == "authorize":
            if args.no_browser:
                def ask(url: str) -> str:
                    print(f"Open this URL, approve, then paste the URL you were redirected to:\n\n  {url}\n")
                    return input("redirected URL: ").strip()
                tokens = authorize(config, store, ask)
            else:
                tokens = authorize(config, store, lambda url: _wait_for_redirect(url, config.credential("redirect_uri")))
            print(f"Authorized; tokens stored in {store.path} (scope: {tokens.scope}).")
        elif args.command == "status":
            current = store.load_tokens()
            print("no grant stored" if current is None else f"grant stored in {store.path}; access token expires in {int(current.expires_at - time.time())}s")
        elif args.command == "refresh":
            OAuthSession(config, store).refresh()
            print("refreshed")
        elif args.command == "revoke":
            revoke(config, store)
            print("revoked")
    except OAuthError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
