"""Extraction layer: one dlt source per provider, plus the shared client layer in `pipelines.common`."""

import os

# No telemetry from a data platform that may run offline or behind a firewall.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
# dlt would look up an Airflow Variable `dlt_secrets_toml` on every config lookup; we use Connections instead.
os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")
