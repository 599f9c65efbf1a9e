"""A real, multi-process Airflow deployment for end-to-end tests: api-server, scheduler, dag-processor, Celery workers.

Each component is its own process started here, logging to its own file, and stopped by its PID (SIGTERM, then
SIGKILL), so that a test that fails still leaves nothing running. The metadata DB is a PostgreSQL database of the
test's own and the broker a Redis DB index of its own, both on the services that run on the machine.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support.processes import stop_process

WORKER_HOSTNAME_ENV = "LYVE_TEST_WORKER_HOSTNAME"
AIRFLOW_CLI = (sys.executable, "-m", "airflow")


def worker_hostname() -> str:
    """`[core] hostname_callable` of the test workers: every worker on this one machine reports its own name.

    Task instances record the hostname of the worker that ran them; with two workers on one machine the FQDN would
    be the same for both, so the test gives each worker a name of its own through the environment.
    """
    return os.environ[WORKER_HOSTNAME_ENV]


@dataclass(frozen=True)
class Postgres:
    """The PostgreSQL server of this machine (trust auth): creates and drops the test's own databases."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"

    def connect(self, database: str = "postgres") -> Any:
        import psycopg2

        connection = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=database)
        connection.autocommit = True
        return connection

    def sqlalchemy_url(self, database: str) -> str:
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        self.query("postgres", f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        """Drop even while a stray connection is left (WITH FORCE, PostgreSQL 13+)."""
        self.query("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def query(self, database: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement on a fresh autocommit connection: polling sees every commit of the Airflow processes."""
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, tuple(params))
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.close()


@dataclass
class ManagedProcess:
    """One long-running process with its own working directory and log file."""

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # A session of its own: its children (pool processes, uvicorn workers) form a group named by its PID.
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, grace_s: float = 30.0) -> int | None:
        """SIGTERM (Celery's warm shutdown), SIGKILL after `grace_s`, then whatever its group still holds."""
        if self.popen is None:
            return None
        stop_process(self.popen, grace_s)
        self._kill_group()
        return self.popen.returncode

    def _kill_group(self) -> None:
        assert self.popen is not None
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class ClusterError(RuntimeError):
    """The deployment did not get where the test waited for it to get (with the evidence in the message)."""


def _shared_env(
    postgres: Postgres, database: str, api_port: int, dags_folder: Path, project_root: Path
) -> dict[str, str]:
    """What every component of a test deployment shares, whatever its executor."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW_", "AIRFLOW__", "LYVE_AUDIT_")) and key != "PYTHONPATH"
    }
    db_url = postgres.sqlalchemy_url(database)
    env.update(
        {
            "PYTHONPATH": str(project_root),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # A short loop keeps the test fast; production keeps the defaults.
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # The task supervisor notices a finished task only at its next wake-up, at most this often (default
            # 5 s): with dozens of short tasks that idle time would dominate the test's runtime.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        }
    )
    return env


@dataclass
class AirflowCluster:
    """An Airflow deployment on this machine: one control plane (api-server, scheduler, dag-processor) and workers.

    `env` holds what every component shares (metadata DB, broker, JWT secret, connections, Variables), as a
    deployment's config and secrets backend would; each component gets its own working directory and AIRFLOW_HOME
    under `root`, as if it ran on a machine of its own.
    """

    root: Path
    env: dict[str, str]
    postgres: Postgres
    database: str
    api_port: int
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)

    @classmethod
    def celery(
        cls,
        root: Path,
        *,
        postgres: Postgres,
        database: str,
        broker_url: str,
        broker_prefix: str,
        api_port: int,
        dags_folder: Path,
        project_root: Path,
    ) -> AirflowCluster:
        """The settings every component shares; add connections and Variables to `env` before starting any."""
        env = _shared_env(postgres, database, api_port, dags_folder, project_root)
        db_url = postgres.sqlalchemy_url(database)
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                # Every Redis key of this deployment (queues, worker broadcasts) under a prefix of its own, so that
                # another deployment on the same Redis DB neither takes its tasks nor talks to its workers.
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": broker_prefix,
                # With the driver named: a bare postgresql:// means psycopg 3 to SQLAlchemy 2.1.
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{db_url}",
            }
        )
        return cls(root, env, postgres, database, api_port)

    @classmethod
    def local(
        cls,
        root: Path,
        *,
        postgres: Postgres,
        database: str,
        api_port: int,
        dags_folder: Path,
        project_root: Path,
        parallelism: int = 4,
    ) -> AirflowCluster:
        """A LocalExecutor deployment: the scheduler runs the tasks itself, at most `parallelism` at once."""
        env = _shared_env(postgres, database, api_port, dags_folder, project_root)
        env.update({"AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "AIRFLOW__CORE__PARALLELISM": str(parallelism)})
        return cls(root, env, postgres, database, api_port)

    # -- processes -------------------------------------------------------------------------------------------------

    def _component_env(self, name: str, **extra: str) -> dict[str, str]:
        env = dict(self.env)
        env["AIRFLOW_HOME"] = str(self.root / name / "airflow-home")
        env.update(extra)
        return env

    def _start(self, name: str, args: Sequence[str], **extra_env: str) -> ManagedProcess:
        if name in self.processes and self.processes[name].alive:
            raise ClusterError(f"{name} is already running")
        self.stopped.discard(name)
        workdir = self.root / name
        process = ManagedProcess(
            name=name,
            argv=[*AIRFLOW_CLI, *args],
            cwd=workdir,
            env=self._component_env(name, **extra_env),
            log_path=self.root / f"{name}.log",
        )
        self.processes[name] = process.start()
        return process

    def cli(self, *args: str, timeout_s: float = 180.0) -> str:
        """One `airflow` CLI command as an operator would type it; raises with its output when it fails."""
        workdir = self.root / "cli"
        workdir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [*AIRFLOW_CLI, *args],
            cwd=workdir,
            env=self._component_env("cli"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(
                f"airflow {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def start_control_plane(self) -> None:
        """Migrate the metadata DB, then start the api-server, scheduler and dag-processor."""
        self.cli("db", "migrate", timeout_s=300)
        self._start("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"])
        self._start("scheduler", ["scheduler"])
        self._start("dag-processor", ["dag-processor"])

    def start_worker(self, name: str, *, concurrency: int, log_server_port: int) -> ManagedProcess:
        """A Celery worker with a hostname, working directory, AIRFLOW_HOME and log-server port of its own."""
        pid_file = self.root / name / "worker.pid"
        return self._start(
            name,
            ["celery", "worker", "--celery-hostname", name, "--concurrency", str(concurrency), "--pid", str(pid_file)],
            **{
                WORKER_HOSTNAME_ENV: name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_server_port),
            },
        )

    def stop(self, name: str) -> None:
        """Stop one component on purpose (it is no longer expected to be alive)."""
        self.stopped.add(name)
        self.processes[name].stop()

    def stop_all(self) -> None:
        """Workers first (they finish what they hold), then the control plane; each by its own PID."""
        order = sorted(self.processes, key=lambda name: name in ("api-server", "scheduler", "dag-processor"))
        for name in order:
            self.processes[name].stop()

    def check_alive(self, names: Sequence[str] | None = None) -> None:
        for name in names or [name for name in self.processes if name not in self.stopped]:
            process = self.processes[name]
            if process.popen is not None and not process.alive:
                raise ClusterError(f"{name} exited {process.popen.returncode}:\n{process.tail()}")

    # -- metadata DB -----------------------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.postgres.query(self.database, sql, params)

    def wait_for_dag(self, dag_id: str, timeout_s: float = 120.0) -> None:
        """Until the dag-processor has serialized the DAG (an import error fails at once)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            errors = self.query("SELECT filename, stacktrace FROM import_error")
            if errors:
                raise ClusterError(f"DAG import errors: {errors}")
            if self.query("SELECT 1 FROM serialized_dag WHERE dag_id = %s", [dag_id]):
                return
            time.sleep(1)
        raise ClusterError(f"{dag_id} was not parsed within {timeout_s:.0f} s")

    def backfill(self, dag_id: str, from_date: datetime, to_date: datetime, max_active_runs: int) -> int:
        """`airflow backfill create` (it only queues runs) and the new backfill's id."""
        self.cli(
            "backfill",
            "create",
            "--dag-id",
            dag_id,
            "--from-date",
            from_date.isoformat(),
            "--to-date",
            to_date.isoformat(),
            "--max-active-runs",
            str(max_active_runs),
        )
        rows = self.query("SELECT max(id) FROM backfill WHERE dag_id = %s", [dag_id])
        if not rows or rows[0][0] is None:
            raise ClusterError("backfill create returned but no backfill row exists")
        return int(rows[0][0])

    def wait_for_backfill(self, backfill_id: int, timeout_s: float = 600.0) -> list[tuple[Any, ...]]:
        """Until every run of the backfill has finished; a failed or retried task stops the wait at once.

        Returns (run_id, state, start_date, end_date) per run.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            bad = self.query(
                "SELECT ti.run_id, ti.task_id, ti.map_index, ti.state, ti.hostname FROM task_instance ti "
                "JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id "
                "WHERE dr.backfill_id = %s AND ti.state IN ('failed', 'up_for_retry', 'upstream_failed')",
                [backfill_id],
            )
            if bad:
                raise ClusterError(f"tasks failed in backfill {backfill_id}: {bad}")
            runs = self.query(
                "SELECT run_id, state, start_date, end_date FROM dag_run WHERE backfill_id = %s ORDER BY logical_date",
                [backfill_id],
            )
            completed = self.query("SELECT completed_at FROM backfill WHERE id = %s", [backfill_id])
            if runs and all(run[1] in ("success", "failed") for run in runs) and completed[0][0] is not None:
                return runs
            time.sleep(1)
        raise ClusterError(f"backfill {backfill_id} did not finish within {timeout_s:.0f} s: {self.run_states()}")

    def wait_for_runs(self, dag_id: str, expected: int, timeout_s: float = 600.0) -> list[tuple[Any, ...]]:
        """Until `expected` runs of the DAG exist and all have finished; a failed or retried task stops the wait.

        Returns (run_id, run_type, state) per run, in logical-date order (manual runs without one last).
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            bad = self.query(
                "SELECT run_id, task_id, map_index, state FROM task_instance "
                "WHERE dag_id = %s AND state IN ('failed', 'up_for_retry', 'upstream_failed')",
                [dag_id],
            )
            if bad:
                raise ClusterError(f"tasks failed: {bad}")
            runs = self.query(
                "SELECT run_id, run_type, state FROM dag_run WHERE dag_id = %s ORDER BY logical_date NULLS LAST",
                [dag_id],
            )
            if len(runs) >= expected and all(state in ("success", "failed") for _, _, state in runs):
                return runs
            time.sleep(1)
        raise ClusterError(f"runs did not finish within {timeout_s:.0f} s: {self.run_states()}")

    def reports(self, dag_id: str) -> dict[str, dict[str, Any]]:
        """Each run's report (the `report` task's return value), by run id."""
        rows = self.query(
            "SELECT run_id, value FROM xcom WHERE dag_id = %s AND task_id = 'report' AND key = 'return_value'",
            [dag_id],
        )
        return {run_id: json.loads(value) if isinstance(value, str | bytes) else value for run_id, value in rows}

    def run_states(self) -> list[tuple[Any, ...]]:
        return self.query("SELECT run_id, backfill_id, state FROM dag_run ORDER BY logical_date")

    def hostnames(self, backfill_id: int) -> dict[str, int]:
        """Task instances per worker hostname among the backfill's runs."""
        rows = self.query(
            "SELECT ti.hostname, count(*) FROM task_instance ti "
            "JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id "
            "WHERE dr.backfill_id = %s GROUP BY ti.hostname",
            [backfill_id],
        )
        return {str(host): int(count) for host, count in rows}

    def xcom_values(self, dag_id: str, task_id: str) -> list[Any]:
        """The return values of a task's instances (all runs, all map indexes), as the workers pushed them."""
        rows = self.query(
            "SELECT value FROM xcom WHERE dag_id = %s AND task_id = %s AND key = 'return_value'", [dag_id, task_id]
        )
        return [json.loads(value) if isinstance(value, str | bytes) else value for (value,) in rows]

    # -- diagnostics -----------------------------------------------------------------------------------------------

    def diagnostics(self, lines: int = 40) -> str:
        """The tail of every process log, plus the tail of the task logs written under the workers' homes."""
        parts = []
        for name, process in self.processes.items():
            state = "running" if process.alive else f"exited {process.popen.returncode if process.popen else '-'}"
            parts.append(f"===== {name} (pid {process.popen.pid if process.popen else '-'}, {state}) =====")
            parts.append(process.tail(lines))
        task_logs = sorted(
            self.root.glob("*/airflow-home/logs/dag_id=*/**/*.log"), key=lambda path: path.stat().st_mtime
        )
        for path in task_logs[-3:]:
            parts.append(f"===== task log {path.relative_to(self.root)} =====")
            parts.append("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        try:
            parts.append(f"===== dag runs =====\n{self.run_states()}")
        except Exception as error:  # diagnostics must not hide the original failure
            parts.append(f"(dag runs unavailable: {error})")
        return "\n".join(parts)

    @contextmanager
    def diagnosed(self) -> Iterator[AirflowCluster]:
        """Print the diagnostics when the block fails (pytest shows captured output of failed tests)."""
        try:
            yield self
        except BaseException:
            print(self.diagnostics())
            raise
