"""The production deployment: docker-compose.yml and the Dockerfile, read as data.

No Docker daemon is needed: the compose file is parsed and checked for its services, health
checks, volumes and secrets; its PostgreSQL init SQL is run on the local server with psql.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from trust_data import small_landing

from pipeline.cli import main

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
    # the web server acts as each signed-in user's login (SET ROLE), which the owner may grant itself
    assert web["environment"]["FAMILYHUB_WAREHOUSE"] == SERVICES["airflow-init"]["environment"]["WAREHOUSE_OWNER_URL"]
    assert web["ports"] == ["127.0.0.1:${FAMILYHUB_WEB_PORT:-8000}:8000"]  # only the reverse proxy reaches it
    assert "/login" in " ".join(web["healthcheck"]["test"]) and web["healthcheck"]["retries"] >= 3
    assert web["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                 "airflow-init": {"condition": "service_completed_successfully"}}
    assert all(v.endswith(":ro") for v in web["volumes"])


def _init_steps() -> list[tuple[str | None, list[str]]]:
    """The init job's lines as (FAMILYHUB_WAREHOUSE variable set for the line, or None; argv)."""
    steps = []
    for line in SERVICES["airflow-init"]["command"][-1].strip().splitlines():
        argv = shlex.split(line)
        env = argv.pop(0).split("=", 1)[1].strip("$") if argv[0].startswith("FAMILYHUB_WAREHOUSE=") else None
        steps.append((env, argv))
    return steps


def test_init_job_migrates_upgrades_the_warehouse_once_as_owner_and_grants_least_privilege() -> None:
    script = SERVICES["airflow-init"]["command"][-1]
    steps = _init_steps()
    assert steps[0] == (None, ["airflow", "db", "migrate"])
    assert steps[1][1][:3] == ["airflow", "pools", "set"] and "familyhub_warehouse 1" in script
    assert "passwords.json" in script and "AIRFLOW_ADMIN_PASSWORD" in script
    familyhub = [(env, argv[1:]) for env, argv in steps if argv[0] == "familyhub"]
    assert familyhub == [
        ("WAREHOUSE_OWNER_URL", ["db", "upgrade"]),
        ("WAREHOUSE_SUPERUSER_URL", ["db", "grant", "--as", "deployment"]),
        ("WAREHOUSE_SUPERUSER_URL", ["db", "grant", "--as", "deployment", "--user", "familyhub", "--role", "owner"]),
        ("WAREHOUSE_SUPERUSER_URL", ["db", "grant", "--as", "deployment", "--user", "pipeline", "--role", "loader"]),
        (None, ["status"]),  # as the pipeline's login: the schema is current and readable
    ]
    env = SERVICES["airflow-init"]["environment"]
    assert env["WAREHOUSE_OWNER_URL"].startswith("postgresql+psycopg://familyhub:")
    assert env["WAREHOUSE_SUPERUSER_URL"].startswith("postgresql+psycopg://postgres:")
    for name in AIRFLOW:  # only the init job holds the owner's and the superuser's passwords
        assert not {"WAREHOUSE_OWNER_URL", "WAREHOUSE_SUPERUSER_URL"} & set(SERVICES[name]["environment"]), name


def test_airflow_and_the_warehouse_use_separate_postgres_databases() -> None:
    env = SERVICES["airflow-scheduler"]["environment"]
    meta, warehouse = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], env["FAMILYHUB_WAREHOUSE"]
    assert meta.startswith("postgresql+psycopg://airflow:") and meta.endswith("@postgres:5432/airflow")
    assert warehouse.startswith("postgresql+psycopg://pipeline:") and warehouse.endswith("@postgres:5432/familyhub")
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
    for url in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "FAMILYHUB_WAREHOUSE", "WAREHOUSE_OWNER_URL",
                "WAREHOUSE_SUPERUSER_URL"):
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
def test_postgres_init_sql_and_init_job_give_the_pipeline_a_least_privilege_login(pg_admin: sa.Engine,
                                                                                  tmp_path: Path) -> None:
    """The init SQL as the postgres image runs it (psql, ON_ERROR_STOP), under unique names;
    then the init job's warehouse steps, and a run of the pipeline as its login."""
    psql = shutil.which("psql")
    assert psql, "psql is needed to run the init SQL"
    prefix = f"fh_{uuid.uuid4().hex[:8]}_"
    sql = re.sub(r"\b(role|database|owner) (airflow|familyhub|pipeline)\b", rf"\1 {prefix}\2",
                 COMPOSE["configs"]["postgres-init"]["content"])
    url = pg_admin.url
    env = {**os.environ, "PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432),
           "PGUSER": url.username or "postgres", "PGDATABASE": url.database or "postgres"}
    run = [psql, "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-q"]
    missing = subprocess.run(run, input=sql, env=env, capture_output=True, text=True)
    assert missing.returncode != 0  # no password in the environment: nothing is created
    try:
        done = subprocess.run(run, input=sql, capture_output=True, text=True,
                              env={**env, "AIRFLOW_DB_PASSWORD": "a-secret", "WAREHOUSE_DB_PASSWORD": "w-secret",
                                   "WAREHOUSE_LOADER_PASSWORD": "l-secret"})
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
        assert logins == dict.fromkeys([*names, f"{prefix}pipeline"], True)
        _run_init_job(url.set(database=f"{prefix}familyhub"), prefix, tmp_path)
    finally:
        with pg_admin.connect() as conn:
            for name in ("airflow", "familyhub"):
                conn.execute(sa.text(f'drop database if exists "{prefix}{name}" with (force)'))
            for name in ("airflow", "familyhub", "pipeline"):
                conn.execute(sa.text(f'drop role if exists "{prefix}{name}"'))


def _run_init_job(warehouse: sa.URL, prefix: str, tmp_path: Path) -> None:
    """The init job's familyhub lines on the local server (trust auth: no passwords), then a
    `familyhub run` as the pipeline's login: it loads, and cannot touch the audit log."""
    def login(name: str) -> str:
        return warehouse.set(username=name, password=None).render_as_string(hide_password=False)

    urls = {"WAREHOUSE_OWNER_URL": login(f"{prefix}familyhub"), "WAREHOUSE_SUPERUSER_URL": login(warehouse.username),
            None: login(f"{prefix}pipeline")}
    runner = CliRunner()
    for env, argv in _init_steps():
        if argv[0] == "familyhub":
            args = [f"{prefix}{a}" if a in ("familyhub", "pipeline") else a for a in argv[1:]]
            done = runner.invoke(main, args, env={"FAMILYHUB_WAREHOUSE": urls[env]})
            assert done.exit_code == 0, (argv, done.output)
    landing = small_landing(tmp_path, ("police", "health"), households=40, files=1)
    ran = runner.invoke(main, ["run", "--landing", str(landing), "--as-of", "2026-11-01", "--programme", "tf2015"],
                        env={"FAMILYHUB_WAREHOUSE": urls[None]})
    assert ran.exit_code == 0, ran.output
    engine = sa.create_engine(urls[None])
    try:
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
            conn.execute(sa.text("delete from ops.audit_log"))
    finally:
        engine.dispose()
