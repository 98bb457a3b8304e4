"""Klaviyo pipeline fixtures: sandbox mode with every rate tier scaled up alike on both sides (client and server),
so tests stay fast while the limiter and the server's windows still agree; one test runs at the real limits."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def klaviyo_env(sandbox_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("KLAVIYO_RATE_LIMIT_SCALE", "20")
    sandbox_env.state.provider_store("klaviyo")["rate_scale"] = 20.0
    return sandbox_env
