"""Sandbox request statistics: a reset zeroes them for every simulator, including those holding their stats object."""

from __future__ import annotations

import httpx

from sandbox.server import SandboxServer
from sandbox.stripe import SANDBOX_CREDENTIALS


def test_stats_reset_keeps_counting_for_every_provider(sandbox: SandboxServer) -> None:
    headers = {"Authorization": f"Bearer {SANDBOX_CREDENTIALS['api_key']}"}
    httpx.get(f"{sandbox.url}/stripe/v1/customers", headers=headers).raise_for_status()
    assert sandbox.state.stats["stripe"].by_route
    httpx.post(f"{sandbox.url}/_sandbox/stats/reset").raise_for_status()
    assert sandbox.state.stats["stripe"].requests == 0 and not sandbox.state.stats["stripe"].by_route
    httpx.get(f"{sandbox.url}/stripe/v1/customers", headers=headers).raise_for_status()
    stats = httpx.get(f"{sandbox.url}/_sandbox/stats").json()["stripe"]
    assert stats["requests"] == 1
    assert sum(stats["by_route"].values()) == 1  # counted on the live object, not on one dropped by the reset
