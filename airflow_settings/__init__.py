"""Airflow objects the DAGs expect to exist (pools, connections), derived from the provider registry."""
