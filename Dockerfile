# FamilyHub with Airflow 3: one image for every service in docker-compose.yml (api-server,
# scheduler, dag-processor, triggerer and the init job). FamilyHub is installed from this
# repository in editable mode, so sql/ (linked from pipeline/warehouse/sql), expectations/ and
# dags/ stay where the package finds them (/opt/familyhub). No secret is baked in: settings come
# from the environment at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/familyhub/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

# curl for the health checks; a non-root user. Group 0 may write Airflow's home and the data
# folders, so the container also runs as the host user's id (FAMILYHUB_UID in docker-compose.yml).
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --home-dir /opt/airflow --uid 50000 --gid 0 airflow \
 && mkdir -p /data/landing /data/quarantine /data/data_docs /opt/airflow/logs /opt/airflow/auth \
 && chown -R airflow:0 /data /opt/airflow \
 && chmod -R g+rwX /data /opt/airflow

WORKDIR /opt/familyhub
COPY pyproject.toml README.md ./
COPY pipeline/ pipeline/
COPY matching/ matching/
COPY expectations/ expectations/
COPY sql/ sql/
RUN pip install -e . \
 && python -c "from pipeline.warehouse import schema; schema.folder_files('staging'); print('schema', schema.head())"
COPY dags/ dags/

USER airflow
EXPOSE 8080
CMD ["airflow", "version"]
