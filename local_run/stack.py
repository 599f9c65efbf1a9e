"""The whole pipeline on this machine, without Docker: a local S3 server with demo logs, InfluxDB, Airflow.

`run` starts what is not running yet and prints where to look; `stop` stops every process it started, by the PID it
recorded (and that PID's process group), never by name. Everything lives under `.local/` (git-ignored): the InfluxDB
data, Airflow's SQLite metadata DB, logs, staged batches and the PID files, so a second `run` resumes where the last one
stopped. The demo logs are a pure function of (seed, first hour), so the local S3 server (moto, in memory) is filled
again with the same objects on every start, and the ledger in InfluxDB keeps them from loading twice.

Parts the user already has are used instead when `.env` (or the environment) names them:
`LYVE_ENDPOINT_URL` + `LYVE_ACCESS_KEY`, `LYVE_SECRET_KEY`, `LYVE_LOG_BUCKET` (, `LYVE_REGION`) for the log bucket;
`INFLUXDB_URL` + `INFLUXDB_TOKEN` or `INFLUXDB_USERNAME`/`INFLUXDB_PASSWORD`, `INFLUXDB_BUCKET` (, `INFLUXDB_ORG`,
`INFLUXDB_API_VERSION`) for InfluxDB.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_BUCKET = "lyve-audit-logs"
DEMO_DATABASE = "lyve_audit"
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor")
# Stopped in this order: Airflow first (it writes to the others), then the feeder, the S3 server and InfluxDB.
ALL_PROCESSES = (*AIRFLOW_COMPONENTS, "feeder", "s3", "influxd")
COMPOSE_ONLY_HOSTS = ("minio",)  # `.env.example` names the compose stack's MinIO, unreachable from this machine

INFLUXD_CONFIG = """reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
  logging-enabled = false
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = {auth_enabled}
  log-enabled = false
  max-body-size = 0
[logging]
  level = "warn"
[continuous_queries]
  enabled = false
"""
"""Debian's `influxd` (1.x) on loopback with its data under `root` (the tests' engines use it too)."""


def read_dotenv(path: Path) -> dict[str, str]:
    """`KEY=value` lines of a `.env` file (comments and blank lines skipped, one pair of quotes removed)."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


@dataclass(frozen=True)
class Config:
    """What `run` starts and where: `.env`, then the environment, over the defaults."""

    root: Path
    values: dict[str, str]

    @classmethod
    def load(cls, root: Path = ROOT) -> Config:
        return cls(root, {**read_dotenv(root / ".env"), **os.environ})

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, "").strip() or default

    def port(self, name: str, default: int) -> int:
        return int(self.get(name, str(default)))

    @property
    def home(self) -> Path:
        return self.root / ".local"

    @property
    def own_s3(self) -> bool:
        endpoint = self.get("LYVE_ENDPOINT_URL")
        return bool(endpoint) and urllib.parse.urlsplit(endpoint).hostname not in COMPOSE_ONLY_HOSTS

    @property
    def own_influx(self) -> bool:
        return bool(self.get("INFLUXDB_URL"))


# -- processes, by PID ---------------------------------------------------------------------------------------------


def _start_ticks(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat): tells our process from a later one given the same PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


class Processes:
    """The processes `run` started, one PID file each under `.local/pids/`."""

    def __init__(self, home: Path) -> None:
        self.pids = home / "pids"
        self.logs = home / "logs"

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> int:
        self.pids.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        cwd.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own argv
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        ticks = _start_ticks(process.pid)
        (self.pids / f"{name}.pid").write_text(json.dumps({"pid": process.pid, "start": ticks, "argv": argv}))
        return process.pid

    def pid(self, name: str) -> int | None:
        """The PID of our process `name` if it still runs (a recycled PID does not count)."""
        path = self.pids / f"{name}.pid"
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        return int(record["pid"]) if _start_ticks(int(record["pid"])) == record["start"] else None

    def running(self) -> list[str]:
        return [name for name in ALL_PROCESSES if self.pid(name) is not None]

    def stop(self, name: str, grace_s: float = 30.0) -> bool:
        """SIGTERM to the process group the PID leads, SIGKILL after `grace_s`; True when something was stopped."""
        pid = self.pid(name)
        (self.pids / f"{name}.pid").unlink(missing_ok=True)
        if pid is None:
            return False
        start = _start_ticks(pid)
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _start_ticks(pid) == start:
            time.sleep(0.2)
            try:
                os.waitpid(pid, os.WNOHANG)  # reaps it when it is our own child (the tests' case)
            except ChildProcessError:
                pass
        try:
            os.killpg(pid, signal.SIGKILL)  # whatever the group still holds (pool processes, workers)
        except ProcessLookupError:
            pass
        return True

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def wait_for(url: str, what: str, timeout_s: float, processes: Processes, name: str) -> None:
    """Until `url` answers at all; fail with the process's log if it exits or the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5)  # noqa: S310 - our own loopback URL
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if processes.pid(name) is None:
                break
            time.sleep(0.5)
    raise SystemExit(f"{what} did not come up ({url}); last lines of .local/logs/{name}.log:\n{processes.tail(name)}")


# -- state kept across runs ----------------------------------------------------------------------------------------


def load_state(config: Config) -> dict[str, str]:
    """First demo hour, seed and the secrets Airflow's components share: made once, kept in `.local/state.json`."""
    path = config.home / "state.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    hours = int(config.get("LOCAL_DEMO_HOURS", "6"))
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)
    state = {
        "first_hour": first.strftime("%Y-%m-%dT%H:%M:%SZ"),
        # Security incidents (docs/security.md) in the last full hour before the first start, unless turned off.
        "incident_hour": ""
        if config.get("LOCAL_DEMO_INCIDENTS", "true") == "false"
        else (first + timedelta(hours=hours - 1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seed": config.get("LOCAL_DEMO_SEED", "1"),
        "jwt_secret": secrets.token_urlsafe(48),
        "api_secret_key": secrets.token_urlsafe(32),
    }
    config.home.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=1))
    path.chmod(0o600)
    return state


# -- the parts -----------------------------------------------------------------------------------------------------


def _python() -> str:
    return sys.executable


def start_s3(config: Config, processes: Processes, state: dict[str, str]) -> dict[str, str]:
    """The log bucket: the user's, or a moto server filled with demo logs plus a feeder adding new ones."""
    if config.own_s3:
        return {
            "endpoint_url": config.get("LYVE_ENDPOINT_URL"),
            "region": config.get("LYVE_REGION", "us-east-1"),
            "access_key": config.get("LYVE_ACCESS_KEY"),
            "secret_key": config.get("LYVE_SECRET_KEY"),
            "bucket": config.get("LYVE_LOG_BUCKET"),
        }
    port = config.port("LOCAL_S3_PORT", 9100)
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    processes.start("s3", [_python(), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env, config.home)
    wait_for(f"{endpoint}/moto-api/", "The local S3 server", 60, processes, "s3")
    feeder = [_python(), "-m", "local_run", "feed", "--endpoint", endpoint, "--bucket", DEMO_BUCKET]
    feeder += ["--first-hour", state["first_hour"], "--seed", state["seed"]]
    if state.get("incident_hour"):
        feeder += ["--incident-hour", state["incident_hour"]]
    uploaded = subprocess.run([*feeder, "--once"], check=True, capture_output=True, text=True, cwd=config.root)  # noqa: S603
    print(f"local S3 server {endpoint}: {uploaded.stdout.strip()}")
    interval = config.get("LOCAL_FEED_SECONDS", "120")
    processes.start(
        "feeder", [*feeder, "--every", interval], {**os.environ, "PYTHONPATH": str(config.root)}, config.root
    )
    return {
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "access_key": "local",
        "secret_key": "local",
        "bucket": DEMO_BUCKET,
    }


def start_influx(config: Config, processes: Processes) -> dict[str, object]:
    """InfluxDB: the user's, or Debian's `influxd` with its own config and data under `.local/influxdb`."""
    if config.own_influx:
        extra: dict[str, object] = {
            "bucket": config.get("INFLUXDB_BUCKET", DEMO_DATABASE),
            "org": config.get("INFLUXDB_ORG"),
            "api_version": config.get("INFLUXDB_API_VERSION", "auto"),
        }
        token = config.get("INFLUXDB_TOKEN")
        return {
            "conn_type": "lyve_influxdb",
            "host": config.get("INFLUXDB_URL"),
            "login": "" if token else config.get("INFLUXDB_USERNAME"),
            "password": token or config.get("INFLUXDB_PASSWORD"),
            "extra": extra,
        }
    binary = shutil.which("influxd")
    if binary is None:
        raise SystemExit("influxd not found: `make engine` installs Debian's influxdb package")
    root = config.home / "influxdb"
    root.mkdir(parents=True, exist_ok=True)
    port = config.port("LOCAL_INFLUXDB_PORT", 8086)
    rpc_port = config.port("LOCAL_INFLUXDB_RPC_PORT", 8088)
    config = INFLUXD_CONFIG.format(root=root, http_port=port, rpc_port=rpc_port, auth_enabled="false")
    (root / "influxdb.conf").write_text(config)
    processes.start("influxd", [binary, "-config", str(root / "influxdb.conf")], dict(os.environ), root)
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/ping", "InfluxDB", 60, processes, "influxd")
    create = urllib.parse.urlencode({"q": f'CREATE DATABASE "{DEMO_DATABASE}"'})
    urllib.request.urlopen(urllib.request.Request(f"{url}/query?{create}", method="POST"), timeout=30)  # noqa: S310
    print(f"InfluxDB {url}: database {DEMO_DATABASE!r} (data in .local/influxdb)")
    return {"conn_type": "lyve_influxdb", "host": url, "extra": {"bucket": DEMO_DATABASE, "api_version": "1"}}


def airflow_env(config: Config, state: dict[str, str]) -> dict[str, str]:
    """Settings every Airflow component shares: SQLite under `.local/airflow`, LocalExecutor, examples off."""
    home = config.home / "airflow"
    port = config.port("LOCAL_AIRFLOW_PORT", 8080)
    bin_dir = str(Path(sys.executable).parent)
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW_CONN_")}
    env.update(
        {
            "PATH": f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}",
            "PYTHONPATH": str(config.root),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(config.root / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": config.get("LOCAL_AIRFLOW_PARALLELISM", "4"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API_AUTH__JWT_SECRET": state["jwt_secret"],
            "AIRFLOW__API__SECRET_KEY": state["api_secret_key"],
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(config.port("LOCAL_AIRFLOW_LOG_PORT", 8793)),
            "LYVE_AUDIT_START_DATE": state["first_hour"],
        }
    )
    return env


def _airflow(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(  # noqa: S603 - our own argv
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"airflow {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def configure_airflow(config: Config, env: dict[str, str], s3: dict[str, str], influx: dict[str, object]) -> None:
    """Migrate the metadata DB, then set the connections and Variables from what `run` started or `.env` names."""
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    _airflow(env, "db", "migrate")
    connections = {
        "lyve_cloud": {
            "conn_type": "aws",
            "login": s3["access_key"],
            "password": s3["secret_key"],
            "extra": json.dumps({"endpoint_url": s3["endpoint_url"], "region_name": s3["region"]}),
        },
        "influxdb_default": {**influx, "extra": json.dumps(influx.get("extra", {}))},
    }
    variables = {
        "lyve_log_bucket": s3["bucket"],
        "lyve_stage_path": f"file://{config.home / 'stage'}",
        # One machine: each mapped task costs a process start, so few parse groups per run go faster.
        "lyve_max_parallel_groups": config.get("LOCAL_MAX_PARALLEL_GROUPS", "2"),
    }
    for name, content in (("connections", connections), ("variables", variables)):
        path = home / f"{name}.json"
        path.write_text(json.dumps(content, indent=1))
        path.chmod(0o600)
    _airflow(env, "connections", "import", "--overwrite", str(home / "connections.json"))
    _airflow(env, "variables", "import", "--action-on-existing-key", "overwrite", str(home / "variables.json"))


def start_airflow(config: Config, processes: Processes, env: dict[str, str]) -> str:
    """api-server, scheduler and dag-processor, each a process of its own; returns the UI address."""
    port = env["AIRFLOW__API__PORT"]
    home = Path(env["AIRFLOW_HOME"])
    airflow = [sys.executable, "-m", "airflow"]
    processes.start("api-server", [*airflow, "api-server", "--host", "127.0.0.1", "--port", port], env, home)
    processes.start("scheduler", [*airflow, "scheduler"], env, home)
    processes.start("dag-processor", [*airflow, "dag-processor"], env, home)
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/api/v2/version", "The Airflow api-server", 240, processes, "api-server")
    return url


def print_welcome(config: Config, url: str) -> None:
    passwords = config.home / "airflow" / "simple_auth_manager_passwords.json.generated"
    password = json.loads(passwords.read_text()).get("admin", "?") if passwords.exists() else "(see that file)"
    print(
        f"\nAirflow UI: {url}  (user admin, password {password}, kept in {passwords.relative_to(config.root)})\n"
        f"DAG lyve_audit_logs loads every hour since {load_state(config)['first_hour']}; logs in .local/logs/\n"
        "Stop everything: make stop   (a later `make run` resumes where it stopped)"
    )


def run(config: Config) -> int:
    processes = Processes(config.home)
    running = processes.running()
    expected = [*AIRFLOW_COMPONENTS]
    expected += [] if config.own_s3 else ["feeder", "s3"]
    expected += [] if config.own_influx else ["influxd"]
    if set(running) == set(expected):
        print("already running")
        print_welcome(config, f"http://127.0.0.1:{config.port('LOCAL_AIRFLOW_PORT', 8080)}")
        return 0
    stop(config, quiet=True)  # a partial set (one crashed): start the whole set again
    state = load_state(config)
    try:
        s3 = start_s3(config, processes, state)
        influx = start_influx(config, processes)
        env = airflow_env(config, state)
        configure_airflow(config, env, s3, influx)
        url = start_airflow(config, processes, env)
    except BaseException:
        stop(config, quiet=True)
        raise
    print_welcome(config, url)
    return 0


def stop(config: Config, quiet: bool = False) -> int:
    processes = Processes(config.home)
    stopped = [name for name in ALL_PROCESSES if processes.stop(name)]
    if not quiet:
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def status(config: Config) -> int:
    processes = Processes(config.home)
    for name in ALL_PROCESSES:
        pid = processes.pid(name)
        print(f"{name:<14} {'running, PID ' + str(pid) if pid else 'not running'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_run", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start what is not running and print the UI address and login")
    commands.add_parser("stop", help="stop every process `run` started, by PID")
    commands.add_parser("status", help="which of them run")
    feed = commands.add_parser("feed", help="upload demo logs whose key time has come (the feeder process)")
    feed.add_argument("--endpoint", required=True)
    feed.add_argument("--bucket", required=True)
    feed.add_argument("--first-hour", required=True)
    feed.add_argument("--seed", type=int, default=1)
    feed.add_argument("--once", action="store_true", help="upload what is due and exit")
    feed.add_argument("--every", type=float, default=120.0, help="seconds between looks")
    feed.add_argument("--incident-hour", help="add the demo's security incidents to this hour (docs/security.md)")
    args = parser.parse_args(argv)
    if args.command == "feed":
        from local_run.feeder import feed_forever

        return feed_forever(
            args.endpoint, args.bucket, args.first_hour, args.seed, args.once, args.every, args.incident_hour
        )
    config = Config.load()
    return {"run": run, "stop": stop, "status": status}[args.command](config)
