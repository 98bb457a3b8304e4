"""What a simulator offers the sandbox server: its app and the credentials a client needs to talk to it.

Each `sandbox/<name>/__init__.py` exposes `SIMULATOR = Simulator(...)`; the registry entry of the integration names
that module (`sandbox="sandbox.<name>"`), and the server resolves and checks it (`load_simulator`). Production
code never imports the sandbox: the code under test gets the simulator's base URL and credentials through the same
environment variables a user would set (`sandbox/env.py` builds them from the registry's credential declarations).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sandbox.common.state import SandboxState


@dataclass(frozen=True)
class Simulator:
    create_app: Callable[[SandboxState], FastAPI]
    credentials: Mapping[str, str] = field(default_factory=dict)
    """Credential field (as the registry entry names it) -> sandbox value. `{base_url}` is replaced by the
    simulator's own URL (for credentials that are URLs, e.g. an approval queue endpoint)."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    """Environment a client needs beyond the declared credentials (e.g. Slack's per-channel webhook URLs)."""


class SimulatorError(RuntimeError):
    """A registry entry whose sandbox module is missing or exposes no `Simulator`."""


def load_simulator(module_name: str) -> Simulator:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise SimulatorError(f"{module_name}: no such simulator module (create sandbox/{module_name.split('.')[-1]}/)") from exc
    simulator = getattr(module, "SIMULATOR", None)
    if not isinstance(simulator, Simulator):
        raise SimulatorError(f"{module_name} must define SIMULATOR = sandbox.common.simulator.Simulator(...)")
    return simulator
