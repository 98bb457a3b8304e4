"""Airflow extraction DAGs: one `extract_<provider>` (and `reconcile_<provider>` where asked) per registry entry.

Adding a provider never edits this file: its `Provider(...)` line in `pipelines/registry.py` is enough.
"""

from dagkit.extract import build_extraction_dags

globals().update(build_extraction_dags())
