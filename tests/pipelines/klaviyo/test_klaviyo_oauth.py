"""OAuth: authorization code + PKCE, refresh on expiry, rotation persisted first, crash recovery, revocation."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipelines.common.config import provider_config
from pipelines.klaviyo import oauth
from pipelines.run import run_provider
from tests.helpers import raw_count


@pytest.fixture
def oauth_env(klaviyo_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("KLAVIYO_AUTH", "oauth")
    monkeypatch.setenv("KLAVIYO_TOKEN_STORE", str(tmp_path / "tokens.json"))
    return klaviyo_env


def consent(url: str) -> str:
    """The browser step: the sandbox consents at once and redirects with the code."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def authorize() -> oauth.Tokens:
    return oauth.authorize(provider_config("klaviyo"), oauth.TokenStore.default(), consent)


def stored() -> dict[str, Any]:
    return json.loads(oauth.TokenStore.default().path.read_text())


def test_authorize_with_pkce_then_extract(oauth_env: Any) -> None:
    tokens = authorize()
    assert tokens.access_token and tokens.refresh_token
    assert stored()["refresh_token"] == tokens.refresh_token
    run_provider("klaviyo", resources=["metrics", "campaigns"])
    assert raw_count("klaviyo", "metrics") == 9
    requests = list(oauth_env.state.provider_store("klaviyo")["requests"])
    assert requests and all(r["headers"]["authorization"].startswith("Bearer ") for r in requests)
    assert oauth_env.state.stats["klaviyo"].extra["oauth_refreshes"] == 0


def test_authorize_rejects_a_forged_state_and_a_wrong_verifier(oauth_env: Any) -> None:
    with pytest.raises(oauth.OAuthError, match="state"):
        oauth.authorize(provider_config("klaviyo"), oauth.TokenStore.default(), lambda url: consent(url).replace("state=", "state=x"))
    original = oauth.pkce_pair
    try:
        oauth.pkce_pair = lambda: ("wrong-verifier", original()[1])  # type: ignore[assignment]
        with pytest.raises(oauth.OAuthError, match="code exchange failed"):
            authorize()
    finally:
        oauth.pkce_pair = original  # type: ignore[assignment]
    assert not oauth.TokenStore.default().path.exists()


def test_expired_access_token_is_refreshed_once_and_rotation_persisted(oauth_env: Any) -> None:
    authorize()
    old = stored()
    expired = {**old, "expires_at": time.time() - 10}
    oauth.TokenStore.default().path.write_text(json.dumps(expired))
    run_provider("klaviyo")  # many requests, several threads: one refresh
    stats = oauth_env.state.stats["klaviyo"]
    assert stats.extra["oauth_refreshes"] == 1
    new = stored()
    assert new["refresh_token"] != old["refresh_token"]  # rotated and persisted
    assert new["access_token"] != old["access_token"] and new["expires_at"] > time.time()
    server = oauth_env.state.provider_store("klaviyo")
    assert server["refresh"][old["refresh_token"]]["valid"] is False  # the old one is retired once the new one is used
    assert raw_count("klaviyo", "events") > 0


def test_server_side_expiry_gets_one_refresh_and_a_replay(oauth_env: Any) -> None:
    authorize()
    server = oauth_env.state.provider_store("klaviyo")
    server["access"][stored()["access_token"]]["expires_at"] = 0  # Klaviyo says expired; our clock does not know
    run_provider("klaviyo", resources=["metrics"])
    assert oauth_env.state.stats["klaviyo"].extra["oauth_refreshes"] == 1
    assert oauth_env.state.stats["klaviyo"].by_status[401] == 1
    assert raw_count("klaviyo", "metrics") == 9


def test_crash_between_refresh_and_persist_does_not_lose_access(oauth_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    authorize()
    before = stored()
    oauth.TokenStore.default().path.write_text(json.dumps({**before, "expires_at": 0}))

    def crash(self: oauth.TokenStore, tokens: oauth.Tokens) -> None:
        raise RuntimeError("simulated crash before the rotated token reached the disk")

    original_save = oauth.TokenStore.save
    monkeypatch.setattr(oauth.TokenStore, "save", crash)
    with pytest.raises(Exception, match="simulated crash"):
        run_provider("klaviyo", resources=["metrics"])
    assert stored()["refresh_token"] == before["refresh_token"]  # the rotated token was lost with the crash
    monkeypatch.setattr(oauth.TokenStore, "save", original_save)
    run_provider("klaviyo", resources=["metrics"])  # the old refresh token still works: access is not lost
    assert raw_count("klaviyo", "metrics") == 9
    assert stored()["refresh_token"] != before["refresh_token"]


def test_revoked_grant_gives_a_clear_error(oauth_env: Any) -> None:
    authorize()
    oauth.revoke(provider_config("klaviyo"), oauth.TokenStore.default())
    with pytest.raises(Exception) as info:
        run_provider("klaviyo", resources=["metrics"])
    text = repr(info.value) + str(info.value.__cause__) + str(getattr(info.value, "__context__", ""))
    assert "re-authorize" in text or "authorize" in text
    assert stored()["refresh_token"] not in text and stored()["access_token"] not in text


def test_missing_grant_says_how_to_authorize(oauth_env: Any) -> None:
    with pytest.raises(Exception) as info:
        run_provider("klaviyo", resources=["metrics"])
    assert "pipelines.klaviyo.oauth authorize" in str(info.value) + str(info.value.__cause__)


def test_cli_status_and_refresh(oauth_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert oauth.main(["status"]) == 0
    assert "no grant" in capsys.readouterr().out
    authorize()
    old = stored()["refresh_token"]
    assert oauth.main(["refresh"]) == 0
    assert stored()["refresh_token"] != old
    assert oauth.main(["status"]) == 0 and "expires in" in capsys.readouterr().out
