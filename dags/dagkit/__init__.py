"""The DAG library: factories that turn the provider registry into Airflow DAGs.

The DAG files beside this package (`extract.py`, `transform.py`, `notify.py`) only call these factories. Nothing here
imports a provider, resolves a secret or touches the network at parse time: that all happens inside tasks.
Airflow puts the DAG folder on `sys.path`, so this package imports as `dagkit`.
"""
