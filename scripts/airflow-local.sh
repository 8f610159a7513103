#!/usr/bin/env bash
# `make airflow`: FamilyHub in a local Airflow 3 (api-server, scheduler, dag-processor, triggerer;
# LocalExecutor, SQLite metadata) with the project's DAGs, the embedded DuckDB warehouse and a
# landing folder of generated data. Everything lives under demo/airflow/ (git-ignored); Ctrl-C
# stops all four processes. Log in at http://127.0.0.1:8080 as admin / admin.
#
# Settings (environment):
#   FAMILYHUB_AIRFLOW_DIR       working folder            [demo/airflow]
#   AIRFLOW_PORT                api-server port           [8080]
#   HOUSEHOLDS                  size of the generated data [500]
#   FAMILYHUB_AIRFLOW_PASSWORD  the admin password        [admin]
#   FAMILYHUB_WAREHOUSE         warehouse URL             [duckdb:///<dir>/familyhub.duckdb]
#                               (PostgreSQL: a login that may upgrade the schema and create roles;
#                               Airflow then runs as the loader login below)
#   FAMILYHUB_LOADER_LOGIN      PostgreSQL: the pipeline's login, made a loader [pipeline]
#   FAMILYHUB_LOADER_WAREHOUSE  PostgreSQL: URL Airflow uses [FAMILYHUB_WAREHOUSE as that login]
#   FAMILYHUB_POKE_SECONDS      sensor poke interval      [30]
#   AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION            [False: the DAGs start running at once]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${BIN:-$ROOT/.venv/bin}"
DIR="$(mkdir -p "${FAMILYHUB_AIRFLOW_DIR:-$ROOT/demo/airflow}" && cd "${FAMILYHUB_AIRFLOW_DIR:-$ROOT/demo/airflow}" && pwd)"
PORT="${AIRFLOW_PORT:-8080}"

export AIRFLOW_HOME="$DIR/airflow-home"
mkdir -p "$AIRFLOW_HOME" "$DIR/logs"
secret_file="$AIRFLOW_HOME/jwt_secret"  # made once per installation, never in the repository
[ -s "$secret_file" ] || (umask 077 && "$BIN/python" -c "import secrets; print(secrets.token_urlsafe(32))" >"$secret_file")
(umask 077 && printf '{"admin": "%s"}\n' "${FAMILYHUB_AIRFLOW_PASSWORD:-admin}" >"$AIRFLOW_HOME/passwords.json")

export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$secret_file")"
export AIRFLOW__API_AUTH__JWT_SECRET
export FAMILYHUB_LANDING="$DIR/landing"
export FAMILYHUB_QUARANTINE="$DIR/quarantine"
export FAMILYHUB_WAREHOUSE="${FAMILYHUB_WAREHOUSE:-duckdb:///$DIR/familyhub.duckdb}"
export FAMILYHUB_POKE_SECONDS="${FAMILYHUB_POKE_SECONDS:-30}"

if [ ! -d "$FAMILYHUB_LANDING" ]; then
  echo "generating ${HOUSEHOLDS:-500} households of agency extracts into $FAMILYHUB_LANDING"
  "$BIN/familyhub" generate "$DIR" --households "${HOUSEHOLDS:-500}" --seed 7 >"$DIR/logs/generate.json"
fi

# The warehouse schema is upgraded once, here; the DAGs' tasks only check its revision.
echo "upgrading the warehouse schema"
"$BIN/familyhub" db upgrade >"$DIR/logs/db-upgrade.log" 2>&1 || { cat "$DIR/logs/db-upgrade.log" >&2; exit 1; }
if [[ "$FAMILYHUB_WAREHOUSE" == postgresql* ]]; then
  # Least privilege: the roles are created and granted, and Airflow runs as the loader login,
  # which may write data but neither change the schema nor touch the audit log.
  loader="${FAMILYHUB_LOADER_LOGIN:-pipeline}"
  echo "granting the warehouse roles; Airflow runs as the loader login $loader"
  { "$BIN/familyhub" db grant --as airflow-local &&
    "$BIN/familyhub" db grant --as airflow-local --user "$loader" --role loader; } >"$DIR/logs/db-grant.log" 2>&1 ||
    { cat "$DIR/logs/db-grant.log" >&2; exit 1; }
  FAMILYHUB_WAREHOUSE="${FAMILYHUB_LOADER_WAREHOUSE:-$("$BIN/python" -c 'import sys, sqlalchemy as sa
print(sa.make_url(sys.argv[1]).set(username=sys.argv[2], password=None).render_as_string(hide_password=False))' \
    "$FAMILYHUB_WAREHOUSE" "$loader")}"
fi

echo "migrating the Airflow metadata database in $AIRFLOW_HOME"
"$BIN/airflow" db migrate >"$DIR/logs/db-migrate.log" 2>&1

pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
}
trap stop EXIT
trap 'stop; exit 0' INT TERM
"$BIN/airflow" api-server --host 127.0.0.1 --port "$PORT" >"$DIR/logs/api-server.log" 2>&1 &
pids+=($!)
for component in scheduler dag-processor triggerer; do
  "$BIN/airflow" "$component" >"$DIR/logs/$component.log" 2>&1 &
  pids+=($!)
done

# The pool serialises tasks on the embedded (DuckDB) warehouse, which allows one process at a
# time; on PostgreSQL the DAGs use Airflow's default pool instead. Made while Airflow starts,
# well before the dag-processor has parsed a DAG the scheduler could run.
"$BIN/airflow" pools set familyhub_warehouse 1 \
  "FamilyHub: one task at a time opens the embedded (DuckDB) warehouse" >"$DIR/logs/pool.log" 2>&1

echo "waiting for Airflow to report healthy"
healthy=false
for _ in $(seq 1 180); do
  if "$BIN/python" - "$PORT" <<'PY' 2>/dev/null; then healthy=true; break; fi
import json, sys, urllib.request
health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/v2/monitor/health", timeout=2))
sys.exit(any(health[c]["status"] != "healthy" for c in ("metadatabase", "scheduler", "dag_processor")))
PY
  sleep 1
done
$healthy || echo "Airflow is not healthy yet after 3 minutes; see $DIR/logs" >&2

cat <<EOF

FamilyHub Airflow is running: http://127.0.0.1:$PORT
  login:      admin, password admin (or \$FAMILYHUB_AIRFLOW_PASSWORD if you set it)
  landing:    $FAMILYHUB_LANDING   (drop files into <agency>/ folders; bad examples in $DIR/bad)
  quarantine: $FAMILYHUB_QUARANTINE
  warehouse:  $FAMILYHUB_WAREHOUSE
  logs:       $DIR/logs
Ctrl-C stops Airflow.
EOF
wait -n "${pids[@]}"
echo "an Airflow process stopped; see $DIR/logs" >&2
exit 1
