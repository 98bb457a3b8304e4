"""Airflow reverse-sync DAGs: one `sync_<provider>` per registry entry with `reverse_sync`, after each tiles publish.

Adding a sync never edits this file: `reverse_sync="module:function"` on the provider's registry line is enough.
"""

from dagkit.sync import build_sync_dags

globals().update(build_sync_dags())
