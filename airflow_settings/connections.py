"""The Airflow Connections every registered integration can read, as an example file generated from the registry.

`python -m airflow_settings.connections > ~/opsdata-connections.yaml`, fill in the placeholders (outside the
repo), then `airflow connections import ~/opsdata-connections.yaml`. Or set the same as environment variables, e.g.
`AIRFLOW_CONN_STRIPE_DEFAULT='{"conn_type": "generic", "password": "rk_live_..."}'`. The environment variables each
entry declares (`Credential.env`) take precedence over Connections.
"""

from __future__ import annotations

import yaml


def example_yaml() -> str:
    from pipelines.registry import integrations

    lines = [f"# {line}" if line else "#" for line in (__doc__ or "").strip().splitlines()]
    for integration in integrations():
        for connection in (integration.connection, *integration.other_connections):
            if connection is None:
                continue
            lines.append(f"\n# {integration.name}: {connection.doc}")
            lines.append(yaml.safe_dump({connection.conn_id: dict(connection.example)}, sort_keys=False).rstrip())
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(example_yaml(), end="")
