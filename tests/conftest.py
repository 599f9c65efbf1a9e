"""Shared fixtures: real services on free loopback ports (moto S3 server, InfluxDB engine + v2 write proxy), and an
Airflow home of the test session's own. Airflow reads its settings at import, so they are set before anything else.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="lyve-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
os.environ.setdefault("PYTHONPATH", str(ROOT))
os.environ.setdefault("LYVE_AUDIT_START_DATE", "2025-01-01T00:00:00Z")  # required by the DAG; tests set their own

from tests.support.influx_engine import InfluxEngine, V2WriteProxy, free_port, wait_for_http  # noqa: E402
from tests.support.pipeline_env import configure_airflow  # noqa: E402

INFLUX_TOKEN = "test-influx-token-7f3a9c"
INFLUX_ORG = "test-org"
S3_ACCESS_KEY = "AKIATESTLYVE"
S3_SECRET_KEY = "test-s3-secret-2b8e41"


def configure_suite_airflow(
    env: dict[str, str],
    *,
    moto_url: str,
    proxy_url: str,
    log_bucket: str,
    influx_bucket: str,
    stage: Path,
    extra_variables: dict[str, str] | None = None,
) -> None:
    """`configure_airflow` with this suite's credentials, which the secrets tests search for."""
    configure_airflow(
        env,
        moto_url=moto_url,
        access_key=S3_ACCESS_KEY,
        secret_key=S3_SECRET_KEY,
        proxy_url=proxy_url,
        token=INFLUX_TOKEN,
        org=INFLUX_ORG,
        log_bucket=log_bucket,
        influx_bucket=influx_bucket,
        stage=stage,
        extra_variables=extra_variables,
    )


@pytest.fixture(scope="session")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InfluxEngine, V2WriteProxy]]:
    """The InfluxDB engine and the `/api/v2/write` proxy in front of it."""
    engine = InfluxEngine(tmp_path_factory.mktemp("influxdb")).start()
    proxy = V2WriteProxy(engine).start()
    yield engine, proxy
    proxy.stop()
    engine.stop()


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server in its own process."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata database for `dag.test()` runs."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )
    return AIRFLOW_HOME
