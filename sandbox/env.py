"""The environment that points the real client code at a running sandbox, as a user would point it anywhere.

For every registered integration: `<NAME>_BASE_URL=<sandbox>/<name>` (extraction providers) and each credential
the simulator offers under the environment variable the registry entry declares for it, plus the simulator's
`extra_env`. The demo, the benchmarks and the tests' `sandbox_env` fixture all use this; nothing in production
code knows a sandbox exists.
"""

from __future__ import annotations

from pipelines.contract import Provider
from pipelines.registry import integrations
from sandbox.common.simulator import load_simulator


def client_env(sandbox_url: str) -> dict[str, str]:
    root = sandbox_url.rstrip("/")
    env: dict[str, str] = {}
    for integration in integrations():
        base = f"{root}/{integration.name}"
        simulator = load_simulator(integration.sandbox)
        if isinstance(integration, Provider):
            env[f"{integration.name.upper()}_BASE_URL"] = base
        declared = integration.credential_env()
        for field_name, value in simulator.credentials.items():
            if field_name not in declared:
                raise KeyError(f"{integration.sandbox}: credential {field_name!r} is not declared by the registry entry")
            env[declared[field_name]] = value.replace("{base_url}", base)
        env.update({k: v.replace("{base_url}", base) for k, v in simulator.extra_env.items()})
    return env
