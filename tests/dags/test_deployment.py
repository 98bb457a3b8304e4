"""The production deployment files, checked statically (no container engine runs here; `docker compose config`
is used when a docker CLI is on PATH)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import yaml

from tests.dags.conftest import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-init"}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_follows_the_official_airflow3_layout_with_local_executor_by_default() -> None:
    compose = _compose()
    services = compose["services"]
    default = {name for name, svc in services.items() if not svc.get("profiles")}
    assert default == {"postgres", "dashboard", *AIRFLOW_SERVICES}
    # The dashboard reads the published copy on the shared data volume, nothing else.
    dashboard = services["dashboard"]
    assert "opsdata-data:/opt/airflow/data" in dashboard["volumes"] and "8501:8501" in dashboard["ports"]
    assert "dashboard/app.py" in " ".join(dashboard["entrypoint"])
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES - {"airflow-init"}}
    assert commands == {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                        "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer"}
    assert services["postgres"]["image"].startswith("postgres:")
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        env = svc["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://") and "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
        assert env["OPSDATA_DATA_DIR"] == "/opt/airflow/data"
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/airflow/project/dags"
        assert svc["build"] == "." and svc["image"]
        # Every component that runs tasks or callbacks sees the same DuckDB files.
        assert "opsdata-data:/opt/airflow/data" in svc["volumes"]
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
        if name != "airflow-init":
            assert svc["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
            assert "healthcheck" in svc
    # One JWT secret for all components (the execution API rejects tokens signed by another).
    assert len({services[n]["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] for n in AIRFLOW_SERVICES}) == 1
    assert services["airflow-apiserver"]["ports"] == ["8080:8080"]
    init = services["airflow-init"]
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    script = "\n".join(init["command"])
    assert "airflow_settings.pools" in script and "dagkit.manifest" in script
    assert set(compose["volumes"]) == {"postgres-db-volume", "opsdata-data"}


def test_compose_celery_profile_adds_redis_workers_and_flower() -> None:
    services = _compose()["services"]
    celery = {name for name, svc in services.items() if "celery" in svc.get("profiles", [])}
    assert celery == {"redis", "airflow-worker", "flower"}
    assert services["airflow-worker"]["command"] == "celery worker"
    assert services["airflow-worker"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["airflow-worker"]["environment"]["AIRFLOW__CELERY__BROKER_URL"] == "redis://:@redis:6379/0"
    # Nothing in the default profile needs redis.
    for name, svc in services.items():
        if not svc.get("profiles"):
            assert "redis" not in svc.get("depends_on", {}), name


def test_compose_variables_all_have_defaults_or_are_documented() -> None:
    text = COMPOSE.read_text()
    documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", (REPO_ROOT / ".env.example").read_text(), re.M))
    for name, default in re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(:-[^}]*)?\}", text):
        assert default or name in documented, name
    assert "FERNET_KEY" in documented and "AIRFLOW__API_AUTH__JWT_SECRET" in documented
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().split()


def test_image_installs_the_project_from_the_lock_file() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    pinned = next(d for d in pyproject["project"]["dependencies"] if d.startswith("apache-airflow=="))
    assert f"ARG AIRFLOW_VERSION={pinned.split('==')[1]}" in dockerfile
    assert "ARG PYTHON_VERSION=3.11" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}" in dockerfile
    assert "uv export --frozen --no-dev" in dockerfile and "COPY --chown=airflow:root pyproject.toml uv.lock" in dockerfile
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in dockerfile  # pip may not move Airflow
    assert "python -m dagkit.manifest" in dockerfile
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data", "airflow_home", ".env"} <= set(ignored)


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_when_available() -> None:
    """`docker compose config` validates the file against the compose schema, where the compose CLI exists."""
    cli = _compose_cli()
    if cli is None:
        # No compose CLI in this workplace (a docker binary without the compose plugin): the static checks above
        # stand in for it; this at least proves the file is one valid YAML document with anchors resolved.
        services = yaml.safe_load(COMPOSE.read_text())["services"]
        assert services["airflow-scheduler"]["environment"] == services["airflow-apiserver"]["environment"]
        return
    result = subprocess.run([*cli, "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr


def test_connections_example_names_the_ids_the_code_reads() -> None:
    """The generated Connections example names exactly the ids the integrations look up, with placeholders only."""
    from airflow_settings.connections import example_yaml
    from notifications.config import BOT_CONNECTION_ID, WEBHOOK_CONNECTION_PREFIX
    from pipelines.registry import integrations

    example = yaml.safe_load(example_yaml())
    for integration in integrations():
        if integration.connection is not None:
            assert integration.connection.conn_id in example, integration.name
    assert BOT_CONNECTION_ID in example and f"{WEBHOOK_CONNECTION_PREFIX}ops" in example
    assert all("conn_type" in conn for conn in example.values())
