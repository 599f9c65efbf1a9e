"""`make run` from a clean copy of the repository: local S3 with demo logs, Debian's InfluxDB, Airflow on SQLite under
the real scheduler; at least 3 hours loaded with exact counts read back; `make stop` leaves no process behind; a second
`make run` resumes with what the first one loaded.

The copy reuses the built `.venv` (a symlink) and starts every service itself on free loopback ports: not this
machine's PostgreSQL or Redis.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from include.lyve_audit.schema import MEASUREMENTS
from local_run.feeder import demo_objects
from tests.support.deployment import entries_by_kind
from tests.support.influx_engine import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HOURS = 3


def clean_copy(destination: Path) -> Path:
    """The repository's tracked and new (not ignored) files, mtimes kept so that make sees the venv as up to date."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    (destination / ".venv").symlink_to(ROOT / ".venv")
    return destination


def make(copy: Path, target: str, env: dict[str, str], timeout_s: float) -> str:
    result = subprocess.run(
        ["make", "-s", target], cwd=copy, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert result.returncode == 0, f"make {target}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def processes_under(folder: Path) -> list[str]:
    """Command lines of live processes that name `folder` (what make run started, and their children)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if str(folder) in cmdline or f"AIRFLOW_HOME={folder}".encode() in environ:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


@pytest.fixture
def copy(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    repo = clean_copy(tmp_path / "repo")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW", "LYVE", "INFLUXDB", "PYTHONPATH", "LOCAL_"))
    }
    env.update(
        {
            "LOCAL_AIRFLOW_PORT": str(free_port()),
            "LOCAL_AIRFLOW_LOG_PORT": str(free_port()),
            "LOCAL_INFLUXDB_PORT": str(free_port()),
            "LOCAL_INFLUXDB_RPC_PORT": str(free_port()),
            "LOCAL_S3_PORT": str(free_port()),
            "LOCAL_DEMO_HOURS": str(HOURS),
            "LOCAL_FEED_SECONDS": "30",
            "LOCAL_MAX_PARALLEL_GROUPS": "1",
            # A shorter supervisor wake-up than the default 5 s: dozens of short tasks (production keeps the default).
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        }
    )
    yield repo, env
    subprocess.run(["make", "-s", "stop"], cwd=repo, env=env, capture_output=True, timeout=120, check=False)


def hours_loaded(database: Path, first_hour: datetime) -> int:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT data_interval_start, state FROM dag_run").fetchall()
    done = {start for start, state in rows if state == "success"}
    wanted = [(first_hour + timedelta(hours=offset)).strftime("%Y-%m-%d %H:%M:%S") for offset in range(HOURS)]
    return sum(any(start.startswith(hour) for start in done) for hour in wanted)


def influx_count(url: str, measurement: str, start: datetime, end: datetime) -> int:
    query = (
        f'SELECT COUNT("message") FROM "{measurement}" '
        f"WHERE time >= '{start:%Y-%m-%dT%H:%M:%SZ}' AND time < '{end:%Y-%m-%dT%H:%M:%SZ}'"
    )
    params = urllib.parse.urlencode({"db": "lyve_audit", "q": query})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=30) as response:
        series = json.loads(response.read())["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def test_make_run_loads_the_demo_hours_then_make_stop_leaves_nothing(copy: tuple[Path, dict[str, str]]) -> None:
    repo, env = copy
    started = time.monotonic()
    printed = make(repo, "run", env, timeout_s=420)
    assert f"Airflow UI: http://127.0.0.1:{env['LOCAL_AIRFLOW_PORT']}" in printed
    passwords = json.loads((repo / ".local/airflow/simple_auth_manager_passwords.json.generated").read_text())
    assert f"user admin, password {passwords['admin']}" in printed and "make stop" in printed
    state = json.loads((repo / ".local/state.json").read_text())
    first_hour = datetime.fromisoformat(state["first_hour"].replace("Z", "+00:00"))

    deadline = started + 360
    while hours_loaded(repo / ".local/airflow/airflow.db", first_hour) < HOURS:
        assert time.monotonic() < deadline, (repo / ".local/logs/scheduler.log").read_text()[-4000:]
        time.sleep(5)

    # The demo logs plus the security incidents in the last hour (all but the one that fails its run).
    incident_hour = datetime.fromisoformat(state["incident_hour"].replace("Z", "+00:00"))
    assert incident_hour == first_hour + timedelta(hours=HOURS - 1)
    expected = entries_by_kind(list(demo_objects(first_hour, HOURS, int(state["seed"]), incident_hour)))
    influx_url = f"http://127.0.0.1:{env['LOCAL_INFLUXDB_PORT']}"
    end = first_hour + timedelta(hours=HOURS)
    assert {kind: influx_count(influx_url, name, first_hour, end) for kind, name in MEASUREMENTS.items()} == expected

    pids = {path.stem: json.loads(path.read_text())["pid"] for path in (repo / ".local/pids").glob("*.pid")}
    assert set(pids) == {"api-server", "scheduler", "dag-processor", "feeder", "s3", "influxd"}
    assert "stopped: api-server, scheduler, dag-processor, feeder, s3, influxd" in make(repo, "stop", env, 180)
    assert [pid for pid in pids.values() if Path(f"/proc/{pid}").exists()] == []
    assert processes_under(repo) == []
    assert "nothing was running" in make(repo, "stop", env, 60)

    # A second run resumes: same demo hours, the runs and points kept, nothing loaded twice.
    assert "Airflow UI" in make(repo, "run", env, timeout_s=420)
    assert json.loads((repo / ".local/state.json").read_text())["first_hour"] == state["first_hour"]
    assert hours_loaded(repo / ".local/airflow/airflow.db", first_hour) == HOURS
    assert {kind: influx_count(influx_url, name, first_hour, end) for kind, name in MEASUREMENTS.items()} == expected
    make(repo, "stop", env, 180)
    assert processes_under(repo) == []
