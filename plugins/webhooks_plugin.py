"""Serve the webhook receiver (`webhooks.app`) from the Airflow API server, under `/webhooks`.

Plugin endpoints are not behind Airflow auth: each provider verifies its sender's signature itself, and the receiver
bounds what an unsigned request can cost (body size, bodies at once). Stripe's endpoint URL is then
`https://<airflow>/webhooks/webhooks/stripe`. A provider without a signing secret does not stop the API server from
starting: its route answers 503 and `https://<airflow>/webhooks/health` says which variable to set. Standalone (no
Airflow): `uvicorn webhooks.app:app --host 0.0.0.0 --port 8088` -> `https://<host>/webhooks/stripe`, which refuses
to start without the secret.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from webhooks.app import create_app


class WebhooksPlugin(AirflowPlugin):
    name = "opsdata_webhooks"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/webhooks", "name": "opsdata webhooks"}]
