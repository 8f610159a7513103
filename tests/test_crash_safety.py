"""Crash safety: ingest and link killed with SIGKILL at random points leave no trace of the crash.

Each kill point runs the real command line (``familyhub ingest`` / ``familyhub link``) in a
child process and kills it with SIGKILL after a random delay; the warehouse must then be
consistent (every ledger row loaded or refused with counts that reconcile, no orphan rows:
:mod:`pipeline.warehouse.integrity`), and after all the kills a plain re-run must give exactly what an
uninterrupted run gives. Children are forked from a warm process that has already imported
FamilyHub and built the quality gates, so a kill lands in the work, not in start-up.
Two agencies ingesting at once on PostgreSQL must lose nothing either.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import random
import shutil
import signal
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from trust_data import AS_OF, small_landing

from pipeline.ingest.agencies import load_agencies
from pipeline.warehouse.engine import Warehouse
from pipeline.warehouse.integrity import problems

AGENCIES = ("police", "health", "housing", "socialcare", "dwp")
BAD_POLICE = b"OccurrenceRef,NominalId\nOC/1,N1\n"  # a required column missing: refused whole


def _zygote(conn: Connection) -> None:
    """Warm FamilyHub once, then fork one child per command and report how it ended."""
    from pipeline.cli import main
    from pipeline.ingest.quality import _validation

    for agency in load_agencies():
        _validation(agency)
    conn.send("ready")
    while (message := conn.recv()) is not None:
        kind, payload = message
        if kind == "run":
            pid = os.fork()
            if pid == 0:
                conn.close()
                os.environ.update(payload["env"])
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                os.dup2(null, 2)
                code = 1
                try:
                    main.main(args=payload["args"], prog_name="familyhub", standalone_mode=True)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
                except BaseException:
                    traceback.print_exc()
                os._exit(code)
            conn.send(pid)
        else:
            conn.send(os.waitpid(payload, 0)[1])


class Zygote:
    """The test's handle on the warm process: start a command, kill it, wait for it."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_zygote, args=(child,))  # not a daemon: ingest forks workers
        self.process.start()
        assert self.conn.recv() == "ready"

    def start(self, *args: str, env: dict[str, str]) -> int:
        self.conn.send(("run", {"args": list(args), "env": env}))
        return self.conn.recv()

    def wait(self, pid: int) -> int:
        self.conn.send(("wait", pid))
        return self.conn.recv()

    def run(self, *args: str, env: dict[str, str]) -> None:
        status = self.wait(self.start(*args, env=env))
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"familyhub {' '.join(args)}: {status}"

    def kill_after(self, delay: float, *args: str, env: dict[str, str]) -> bool:
        """Run a command and SIGKILL it after ``delay`` seconds; True if it was killed mid-way."""
        pid = self.start(*args, env=env)
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):  # it may have finished already
            os.kill(pid, signal.SIGKILL)
        status = self.wait(pid)
        return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(10)


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    yield z
    z.close()


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated extract of each of five agencies (one a workbook) and one file that is refused."""
    folder = small_landing(tmp_path_factory.mktemp("crash"), AGENCIES, files=1)
    (folder / "police" / "police_20260915.csv").write_bytes(BAD_POLICE)
    return folder


class Warehouses:
    """Fresh warehouses of one backend, empty or copied from another (a file copy, a template)."""

    def __init__(self, backend: str, folder: Path, admin: sa.Engine | None):
        self.backend, self.folder, self.admin = backend, folder, admin
        self.made: list[str] = []

    def drop_all(self) -> None:
        for name in self.made:
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))

    def new(self, like: str | None = None) -> str:
        """A copy of ``like``, or an empty warehouse upgraded to this release (as deployed)."""
        if self.backend == "duckdb":
            path = self.folder / f"{uuid.uuid4().hex[:8]}.duckdb"
            if like:  # with its write-ahead log: a child that exits at once leaves it unmerged
                source = Path(sa.make_url(like).database)
                shutil.copy(source, path)
                if source.with_name(source.name + ".wal").exists():
                    shutil.copy(source.with_name(source.name + ".wal"), path.with_name(path.name + ".wal"))
            url = f"duckdb:///{path}"
        else:
            name = f"fh_test_{uuid.uuid4().hex[:12]}"
            template = f' template "{sa.make_url(like).database}"' if like else ""
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'create database "{name}"{template}'))
            self.made.append(name)
            url = self.admin.url.set(database=name).render_as_string(hide_password=False)
        if not like:
            _open(url).engine.dispose()
        return url


@pytest.fixture
def pg_warehouses(pg_admin: sa.Engine, tmp_path: Path) -> Iterator[Warehouses]:
    warehouses = Warehouses("postgresql", tmp_path, pg_admin)
    yield warehouses
    warehouses.drop_all()


def _env(url: str, landing: Path, quarantine: Path) -> dict[str, str]:
    return {"FAMILYHUB_WAREHOUSE": url, "FAMILYHUB_LANDING": str(landing), "FAMILYHUB_QUARANTINE": str(quarantine)}


def _open(url: str) -> Warehouse:
    wh = Warehouse.connect(url)
    wh.migrate()
    return wh


def _check(url: str) -> int:
    """Assert the warehouse is consistent; returns how many files the ledger holds."""
    wh = _open(url)
    try:
        assert problems(wh) == {}
        return int(wh.scalar("select count(*) from ops.files"))
    finally:
        wh.engine.dispose()  # DuckDB: release the file for the next child


def _stray_copies(url: str, quarantine: Path) -> list[str]:
    """Quarantine copies that no refused ledger row owns (left by a kill during a refusal)."""
    wh = _open(url)
    refused = set(wh.read("select file_id from ops.files where status = 'refused'")["file_id"].astype(str))
    wh.engine.dispose()
    copies = [p for p in quarantine.rglob("*__*") if not p.name.endswith((".report.md", ".report.json"))]
    return [p.name for p in copies if p.name.split("__", 1)[0] not in refused]


def _ingested(url: str) -> dict[str, pd.DataFrame]:
    """Everything ingest writes, keyed by file name instead of file id (ids differ between runs)."""
    wh = _open(url)
    files = "join ops.files f on f.file_id = t.file_id"
    out = {"files": wh.read("select agency, file_name, extract_date, sequence, sha256, status, rows_sent, "
                            "rows_loaded, rows_held, reason from ops.files order by file_name")}
    for table, key in (("staging.person_mentions", "mention_id"), ("staging.events", "mention_id"),
                       ("ops.held_rows", "t.row_number")):
        out[table] = wh.read(f"select f.file_name, t.* from {table} t {files} order by f.file_name, {key}"
                             ).drop(columns="file_id")
    for agency in load_agencies():
        out[agency] = wh.read(f"select f.file_name, t.* from raw.{agency} t {files} "
                              "order by f.file_name, t.row_number").drop(columns="file_id")
    wh.engine.dispose()
    return out


def _linked(url: str) -> dict[str, pd.DataFrame]:
    wh = _open(url)
    out = {"record_link": wh.read("select * from reporting.record_link order by agency, record_key"),
           "persons": wh.read("select * from linked.persons order by person_id"),
           "families": wh.read("select * from linked.families order by family_id"),
           "members": wh.read("select * from linked.person_family order by person_id")}
    wh.engine.dispose()
    return out


def _same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name].reset_index(drop=True), b[name].reset_index(drop=True),
                                      check_dtype=False, obj=name)


def _kill_repeatedly(zygote: Zygote, command: tuple[str, ...], kills: int, duration: float, start: Callable[[], str],
                     snapshot: Callable[[str], dict], expected: dict, folder: Path, rng: random.Random) -> int:
    """SIGKILL ``command`` after random delays, checking the warehouse after each kill; a run that
    completes is compared with the uninterrupted one, and the next attempt starts afresh."""
    url, done, completions, stages = start(), 0, 0, Counter()
    while done < kills:
        env = _env(url, folder / "landing", folder / f"q-{url[-8:]}")
        if zygote.kill_after(rng.uniform(0.0, duration), *command, env=env):
            done += 1
            stages[_check(url)] += 1
        else:
            _check(url)
            _same(expected, snapshot(url))
            completions += 1
            url = start()
    env = _env(url, folder / "landing", folder / f"q-{url[-8:]}")
    zygote.run(*command, env=env)  # the re-run after the last kill completes, as if nothing happened
    _check(url)
    _same(expected, snapshot(url))
    assert _stray_copies(url, folder / f"q-{url[-8:]}") == []
    print(f"\n{command[0]}: killed with 0, 1, ... files in the ledger: {dict(sorted(stages.items()))}")
    return completions + 1


def _crash_and_rerun(zygote: Zygote, warehouses: Warehouses, folder: Path, ingest_kills: int, link_kills: int,
                     seed: int) -> None:
    """Kill ingest, then link, at random points; both must recover to the uninterrupted result."""
    rng = random.Random(seed)
    link = ("link", "--as-of", AS_OF.isoformat())
    ingested = warehouses.new()
    started = time.monotonic()
    zygote.run("ingest", env=_env(ingested, folder / "landing", folder / "q-ref"))
    ingest_time = time.monotonic() - started
    reference = warehouses.new(like=ingested)
    started = time.monotonic()
    zygote.run(*link, env=_env(reference, folder / "landing", folder / "q-ref"))
    link_time = time.monotonic() - started
    completed = _kill_repeatedly(zygote, ("ingest",), ingest_kills, ingest_time, warehouses.new, _ingested,
                                 _ingested(ingested), folder, rng)
    completed += _kill_repeatedly(zygote, link, link_kills, link_time, lambda: warehouses.new(like=ingested),
                                  _linked, _linked(reference), folder, rng)
    print(f"\n{warehouses.backend}: {ingest_kills + link_kills} kill points survived, {completed} re-runs "
          "identical to an uninterrupted run")


@pytest.mark.slow
@pytest.mark.postgres
def test_killed_ingest_and_link_leave_postgres_consistent(zygote: Zygote, landing: Path,
                                                          pg_warehouses: Warehouses) -> None:
    _crash_and_rerun(zygote, pg_warehouses, landing.parent, ingest_kills=20, link_kills=10, seed=8)


@pytest.mark.slow
def test_killed_ingest_and_link_leave_duckdb_consistent(zygote: Zygote, landing: Path, tmp_path: Path) -> None:
    _crash_and_rerun(zygote, Warehouses("duckdb", tmp_path, None), landing.parent, ingest_kills=8, link_kills=4,
                     seed=9)


@pytest.mark.slow
@pytest.mark.postgres
def test_two_agencies_ingesting_at_once_lose_nothing(zygote: Zygote, landing: Path, tmp_path: Path,
                                                     pg_warehouses: Warehouses) -> None:
    together, alone = pg_warehouses.new(), pg_warehouses.new()
    for url in (together, alone):
        _open(url).engine.dispose()
    env = _env(together, landing, tmp_path / "q1")
    pids = [zygote.start("ingest", "--agency", a, env=env) for a in ("police", "health", "housing")]
    statuses = [zygote.wait(pid) for pid in pids]
    assert all(os.WIFEXITED(s) and os.WEXITSTATUS(s) == 0 for s in statuses)
    for agency in ("police", "health", "housing"):
        zygote.run("ingest", "--agency", agency, env=_env(alone, landing, tmp_path / "q2"))
    _check(together)
    _same(_ingested(alone), _ingested(together))


def _state_and_parent(pid: int | str) -> tuple[str, int]:
    """A process's state letter and parent pid (from /proc); ("", 0) once it is gone."""
    try:
        state, parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:2]
    except OSError:
        return "", 0
    return state, int(parent)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``."""
    return [int(p.name) for p in Path("/proc").glob("[0-9]*") if _state_and_parent(p.name)[1] == pid]


def _running(pid: int) -> bool:
    return _state_and_parent(pid)[0] not in ("", "Z")


@pytest.mark.slow
@pytest.mark.postgres
def test_killed_ingest_leaves_no_worker_process_behind(zygote: Zygote, landing: Path, tmp_path: Path,
                                                       pg_warehouses: Warehouses) -> None:
    url = pg_warehouses.new()
    _open(url).engine.dispose()
    pid = zygote.start("ingest", env=_env(url, landing, tmp_path / "q"))
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline:  # PostgreSQL ingest forks 2 workers
        workers = _children(pid)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    zygote.wait(pid)
    assert len(workers) == 2, workers
    deadline = time.monotonic() + 10
    while any(map(_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_running, workers)), "an ingest worker outlived its killed parent"
    _check(url)
