"""Sandbox request statistics: a reset zeroes them for every simulator, including those holding their stats object."""

from __future__ import annotations

from httpx import Client

from sandbox.server import SandboxServer
from sandbox.stripe import SANDBOX_CREDENTIALS


def test_stats_reset_keeps_counting_for_every_provider(sandbox: SandboxServer) -> None:
    headers = {"Authorization": f"Bearer {SANDBOX_CREDENTIALS['api_key']}"}
    client = Client(timeout=120)  # a busy machine can take longer than httpx's 5 s default to answer
    client.get(f"{sandbox.url}/stripe/v1/customers", headers=headers).raise_for_status()
    assert sandbox.state.stats["stripe"].by_route
    client.post(f"{sandbox.url}/_sandbox/stats/reset").raise_for_status()
    assert sandbox.state.stats["stripe"].requests == 0 and not sandbox.state.stats["stripe"].by_route
    client.get(f"{sandbox.url}/stripe/v1/customers", headers=headers).raise_for_status()
    stats = client.get(f"{sandbox.url}/_sandbox/stats").json()["stripe"]
    assert stats["requests"] == 1
    assert sum(stats["by_route"].values()) == 1  # counted on the live object, not on one dropped by the reset
