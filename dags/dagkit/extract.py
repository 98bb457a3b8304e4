"""Build one `extract_<provider>` DAG per registry entry (and `reconcile_<provider>` where the entry asks for it).

Each DAG has one task that calls `pipelines.run.run_provider(name)` inside the task: provider code, secrets and the
network are only touched at run time. The task publishes the provider's raw Asset, which schedules `transform`.
A terminal error (rejected credentials, schema drift, a bad setting) fails it at the first try: see `defaults.py`.

Data intervals. Runs use `CronDataIntervalTimetable`, so every run owns `[data_interval_start, data_interval_end)`.
Scheduled runs load incrementally from the cursor dlt committed with the data (which also catches up any interval a
failed run missed). Backfill runs (`airflow backfill create --dag-id extract_<p> --from-date ... --to-date ...`) and
runs triggered with conf `{"reload_interval": true}` reload exactly their interval instead: `run_provider` receives
`interval_start` / `interval_end` (ISO 8601, UTC) as source options, and the source extracts records updated in
`[interval_start, interval_end)` without moving its incremental cursor; `merge` on primary keys makes it idempotent.
A provider opts in with `interval_reload=True` in its registry entry (`pipelines/<p>/provider.py`); a backfill of a
provider that has not fails with a clear error instead of quietly running incrementally.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset, CronDataIntervalTimetable

from dagkit.defaults import START_DATE, default_args, late_run_alert

if TYPE_CHECKING:
    from pipelines.registry import Provider

EXTRACT_TIMEOUT = timedelta(hours=1)
LATE_AFTER = timedelta(hours=2)


def raw_asset(provider: Provider) -> Asset:
    """The Asset an extraction publishes: the provider's raw dataset (`raw_<p>` in `raw_<p>.duckdb`)."""
    return Asset(uri=provider.asset_uri, name=provider.dataset, group="raw")


def interval_options(context: Any) -> dict[str, str]:
    """The source options that pin a run to its data interval, or {} for a normal incremental run."""
    dag_run = context["dag_run"]
    conf = getattr(dag_run, "conf", None) or {}
    run_type = getattr(dag_run, "run_type", "")
    run_type = getattr(run_type, "value", run_type)
    if run_type != "backfill" and not conf.get("reload_interval"):
        return {}
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None or not start < end:
        raise ValueError(f"cannot reload an interval: this run's data interval is [{start}, {end})")
    return {"interval_start": start.isoformat(), "interval_end": end.isoformat()}


def run_extraction(provider_name: str, mode: str | None = None, **context: Any) -> dict[str, Any]:
    """Task body: extract one provider into its raw DuckDB file, holding that file's writer lock."""
    from dagkit.locks import duckdb_locks, raw_lock_name
    from pipelines.registry import get_provider
    from pipelines.run import run_provider

    provider = get_provider(provider_name)
    options: dict[str, Any] = interval_options(context)
    if options and not provider.interval_reload:
        # Better a clear failure than a silent incremental run presented as a backfill.
        raise NotImplementedError(
            f"{provider_name} cannot reload an interval yet: its source must honour the options interval_start / "
            f"interval_end and its registry entry (pipelines/{provider_name}/provider.py) set interval_reload=True"
        )
    if mode:
        options["mode"] = mode
    with duckdb_locks(exclusive=[raw_lock_name(provider_name)]):
        summary = run_provider(provider_name, **options)
    result = {
        "provider": provider_name,
        "mode": mode or ("interval" if "interval_start" in options else "incremental"),
        "interval": [options.get("interval_start"), options.get("interval_end")],
        "rows_extracted": summary.rows_extracted,
        "total_rows": summary.total_rows,
        "requests": summary.requests,
        "seconds": round(summary.seconds, 2),
        "new_columns": summary.new_columns,
    }
    # Asset event metadata: what this load added (new columns included: kept, not yet read by a model), in the UI.
    context["outlet_events"][raw_asset(provider)].extra = {
        k: result[k] for k in ("total_rows", "rows_extracted", "mode", "interval", "new_columns")
    }
    print(summary.describe())
    return result


def run_provider_alerts(provider_name: str, **context: Any) -> dict[str, Any]:
    """Task body: post the alerts the provider's new data raises (its registry `alerts` capability)."""
    from notifications.jobs import report_provider_alerts

    outcomes = report_provider_alerts(provider_name)
    return {"provider": provider_name, "alerts": [o.__dict__ for o in outcomes]}


def _build(provider: Provider, *, dag_id: str, cron: str, mode: str | None) -> DAG:
    what = "full reconciliation of mutable objects" if mode == "reconcile" else "incremental extraction"
    doc = (
        f"{provider.description or provider.name}: {what} into `raw_{provider.name}.duckdb` "
        f"(dataset `{provider.dataset}`), publishing Asset `{provider.dataset}`.\n\n"
        f"Generated from the registry by `dags/dagkit/extract.py`; backfills reload exactly their interval."
    )
    with DAG(
        dag_id=dag_id,
        description=f"{what.capitalize()}: {provider.name}",
        doc_md=doc,
        schedule=CronDataIntervalTimetable(cron, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=LATE_AFTER + EXTRACT_TIMEOUT,
        default_args=default_args(execution_timeout=EXTRACT_TIMEOUT),
        deadline=late_run_alert(dag_id, LATE_AFTER),
        tags=["extract", provider.name, *(["reconcile"] if mode else []), *provider.tags],
    ) as dag:
        extract = PythonOperator(
            task_id="reconcile" if mode else "extract",
            python_callable=run_extraction,
            op_kwargs={"provider_name": provider.name, "mode": mode},
            pool=provider.pool,
            outlets=[raw_asset(provider)],
        )
        if provider.alerts is not None:
            # On the raw data just loaded (not on tiles): alerts such as SLA breaches should not wait for dbt.
            extract >> PythonOperator(
                task_id="alerts", python_callable=run_provider_alerts, op_kwargs={"provider_name": provider.name}
            )
    return dag


def build_extraction_dags(providers: list[Provider] | None = None) -> dict[str, DAG]:
    """Every extraction DAG, keyed by dag_id. Adding a provider to the registry adds its DAGs here."""
    from pipelines.registry import extraction_providers

    dags: dict[str, DAG] = {}
    for provider in extraction_providers() if providers is None else providers:
        dags[provider.dag_id] = _build(provider, dag_id=provider.dag_id, cron=provider.schedule, mode=None)
        if provider.reconcile_schedule:
            dag_id = f"reconcile_{provider.name}"
            dags[dag_id] = _build(provider, dag_id=dag_id, cron=provider.reconcile_schedule, mode="reconcile")
    return dags
