# The production image: the official Airflow image plus this project, installed from uv.lock (the same pins as dev).
# Built by docker-compose.yml (`docker compose build`); no internet is needed at run time.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION
ENV OPSDATA_REPO_ROOT=/opt/airflow/project \
    OPSDATA_DATA_DIR=/opt/airflow/data \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/project/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/airflow/project/plugins \
    PYTHONPATH=/opt/airflow/project \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    RUNTIME__DLTHUB_TELEMETRY=false

# Dependencies first (cached while only code changes): export the locked runtime set, pin Airflow so pip cannot
# move it (the official "extending the image" recipe), install as the airflow user.
COPY --chown=airflow:root pyproject.toml uv.lock /opt/airflow/project/
RUN pip install --no-cache-dir uv \
 && cd /opt/airflow/project \
 && uv export --frozen --no-dev --no-emit-project --no-hashes --format requirements-txt -o /tmp/requirements.txt \
 && pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY --chown=airflow:root . /opt/airflow/project

# The dbt manifest Cosmos renders the transform DAG from, built once here (no `dbt ls` in the dag-processor).
RUN mkdir -p /opt/airflow/data \
 && cd /opt/airflow/project/dags \
 && python -m dagkit.manifest

WORKDIR /opt/airflow
