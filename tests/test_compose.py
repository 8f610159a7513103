"""The production deployment: docker-compose.yml and the Dockerfile, read as data.

No Docker daemon is needed: the compose file is parsed and checked for its services, health
checks, volumes and secrets; its PostgreSQL init SQL is run on the local server with psql.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVICES = COMPOSE["services"]
AIRFLOW = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]
SECRET = re.compile(r"PASSWORD$|SECRET|FERNET|_KEY$")


def test_services_are_postgres_the_init_job_and_four_airflow_components() -> None:
    assert set(SERVICES) == {"postgres", "airflow-init", *AIRFLOW, "web"}
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    commands = {name: " ".join(SERVICES[name]["command"]) for name in AIRFLOW}
    assert commands == {"airflow-apiserver": "airflow api-server --port 8080", "airflow-scheduler": "airflow scheduler",
                        "airflow-dag-processor": "airflow dag-processor", "airflow-triggerer": "airflow triggerer"}
    for name in ["airflow-init", *AIRFLOW]:
        service = SERVICES[name]
        assert service["build"] == "." and service["image"] == SERVICES["airflow-init"]["image"], name
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name


def test_every_long_running_service_has_a_health_check_and_waits_for_its_dependencies() -> None:
    for name in ["postgres", *AIRFLOW]:
        check = SERVICES[name]["healthcheck"]
        assert check["test"][0] in {"CMD", "CMD-SHELL"} and check["retries"] >= 3, name
    assert "8080/api/v2/monitor/health" in " ".join(SERVICES["airflow-apiserver"]["healthcheck"]["test"])
    assert SERVICES["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    for name in AIRFLOW:
        assert SERVICES[name]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                                "airflow-init": {"condition": "service_completed_successfully"}}
    assert SERVICES["airflow-init"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert SERVICES["airflow-init"]["restart"] == "no"


def test_web_service_serves_the_warehouse_behind_a_local_port_after_the_schema_is_made() -> None:
    web = SERVICES["web"]
    assert web["command"] == ["familyhub", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert web["image"] == SERVICES["airflow-init"]["image"] and web["build"] == "."
    assert web["environment"]["FAMILYHUB_WAREHOUSE"] == SERVICES["airflow-init"]["environment"]["FAMILYHUB_WAREHOUSE"]
    assert web["ports"] == ["127.0.0.1:${FAMILYHUB_WEB_PORT:-8000}:8000"]  # only the reverse proxy reaches it
    assert "/login" in " ".join(web["healthcheck"]["test"]) and web["healthcheck"]["retries"] >= 3
    assert web["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                 "airflow-init": {"condition": "service_completed_successfully"}}
    assert all(v.endswith(":ro") for v in web["volumes"])


def test_init_job_migrates_makes_the_pool_and_the_login_and_migrates_the_warehouse() -> None:
    script = SERVICES["airflow-init"]["command"][-1]
    steps = [line.split()[:3] for line in script.strip().splitlines()]
    assert steps[0] == ["airflow", "db", "migrate"]
    assert steps[1] == ["airflow", "pools", "set"] and "familyhub_warehouse 1" in script
    assert "passwords.json" in script and "AIRFLOW_ADMIN_PASSWORD" in script
    assert steps[-1] == ["familyhub", "status"]  # opens the warehouse: creates or updates its schema


def test_airflow_and_the_warehouse_use_separate_postgres_databases() -> None:
    env = SERVICES["airflow-scheduler"]["environment"]
    meta, warehouse = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], env["FAMILYHUB_WAREHOUSE"]
    assert meta.startswith("postgresql+psycopg://airflow:") and meta.endswith("@postgres:5432/airflow")
    assert warehouse.startswith("postgresql+psycopg://familyhub:") and warehouse.endswith("@postgres:5432/familyhub")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"].startswith("postgresql+psycopg_async://airflow:")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_landing_is_mounted_read_only_and_quarantine_logs_and_data_persist() -> None:
    for name in ["airflow-init", *AIRFLOW]:
        service = SERVICES[name]
        mounts = {m.split(":")[-2] if m.endswith((":ro", ":rw")) else m.split(":")[-1]: m
                  for m in service["volumes"]}
        assert mounts[service["environment"]["FAMILYHUB_LANDING"]].endswith(":ro"), name
        assert service["environment"]["FAMILYHUB_QUARANTINE"] in mounts, name
        assert {"/opt/airflow/logs", "/opt/airflow/auth"} <= set(mounts), name
    assert "postgres-data:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]
    assert set(COMPOSE["volumes"]) == {"postgres-data", "airflow-logs", "airflow-auth"}


def test_secrets_come_only_from_the_environment() -> None:
    for name, service in SERVICES.items():
        for key, value in service.get("environment", {}).items():
            if SECRET.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*|:-)?\}", value), f"{name}.{key} = {value}"
    for url in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "FAMILYHUB_WAREHOUSE"):
        assert re.search(r":\$\{[A-Z_]+:\?[^}]+\}@", SERVICES["airflow-init"]["environment"][url]), url
    assert not re.search(r"^\s*(ENV|ARG)\s.*(PASSWORD|SECRET)", DOCKERFILE, re.M | re.I)


def test_dockerfile_installs_familyhub_with_its_sql_and_expectations() -> None:
    assert re.search(r"^FROM python:3\.11-slim\b", DOCKERFILE, re.M)
    assert re.search(r"^RUN pip install -e \.", DOCKERFILE, re.M)
    copied = {line.split()[1] for line in DOCKERFILE.splitlines() if line.startswith("COPY ")}
    assert {"pipeline/", "matching/", "expectations/", "sql/", "dags/", "pyproject.toml"} <= copied
    assert re.search(r"^USER airflow$", DOCKERFILE, re.M)
    assert "AIRFLOW__CORE__DAGS_FOLDER=/opt/familyhub/dags" in DOCKERFILE


@pytest.mark.postgres
def test_postgres_init_sql_makes_two_databases_with_their_own_roles(pg_admin: sa.Engine) -> None:
    """The init SQL as the postgres image runs it (psql, ON_ERROR_STOP), under unique names."""
    psql = shutil.which("psql")
    assert psql, "psql is needed to run the init SQL"
    prefix = f"fh_{uuid.uuid4().hex[:8]}_"
    sql = re.sub(r"\b(role|database|owner) (airflow|familyhub)\b", rf"\1 {prefix}\2",
                 COMPOSE["configs"]["postgres-init"]["content"])
    url = pg_admin.url
    env = {**os.environ, "PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432),
           "PGUSER": url.username or "postgres", "PGDATABASE": url.database or "postgres"}
    run = [psql, "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-q"]
    missing = subprocess.run(run, input=sql, env=env, capture_output=True, text=True)
    assert missing.returncode != 0  # no password in the environment: nothing is created
    try:
        done = subprocess.run(run, input=sql, capture_output=True, text=True,
                              env={**env, "AIRFLOW_DB_PASSWORD": "a-secret", "WAREHOUSE_DB_PASSWORD": "w-secret"})
        assert done.returncode == 0, done.stderr
        with pg_admin.connect() as conn:
            owners = dict(conn.execute(sa.text(
                "select datname, pg_get_userbyid(datdba) from pg_database where datname like :p"),
                {"p": f"{prefix}%"}).all())
            logins = dict(conn.execute(sa.text(
                "select rolname, rolcanlogin and rolpassword like 'SCRAM-SHA-256$%' from pg_authid "
                "where rolname like :p"), {"p": f"{prefix}%"}).all())
        names = {f"{prefix}airflow", f"{prefix}familyhub"}
        assert owners == {n: n for n in names}
        assert logins == dict.fromkeys(names, True)
    finally:
        with pg_admin.connect() as conn:
            for name in ("airflow", "familyhub"):
                conn.execute(sa.text(f'drop database if exists "{prefix}{name}" with (force)'))
                conn.execute(sa.text(f'drop role if exists "{prefix}{name}"'))
