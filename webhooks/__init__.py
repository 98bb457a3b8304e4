"""Webhook receiver: one FastAPI app, one verifier per provider, one durable inbox.

Each provider module (`webhooks/providers/<name>.py`) verifies its sender's signature and says what the event id
is; the app stores verified events in the SQLite inbox (`inbox.py`) and answers 2xx only after the commit. The
provider's extraction pipeline drains the inbox (Stripe: the `events` resource of `pipelines.stripe`), so the
cursor over the inbox is committed with the data.

Run it standalone: `uvicorn webhooks.app:app --host 0.0.0.0 --port 8088` (Stripe posts to `/webhooks/stripe`);
inside Airflow it is served by `plugins/webhooks_plugin.py` under `/webhooks`.
"""
