"""Faults: InfluxDB down or killed, InfluxDB 2 refusals, S3 throttling / timeouts / denial / vanished objects / dropped
connections, workers SIGKILLed mid-step, and two runs of the same hour at once.

Each test states the state the run (or attempt) ends in, and after the run completes checks that the points read back
from the real engine equal the entries: nothing lost, nothing duplicated, every object once in the ledger.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath
from urllib3.util.retry import Retry

from include.lyve_audit import influx
from include.lyve_audit.contracts import ParsedObject
from include.lyve_audit.demo import GeneratedObject, generate
from include.lyve_audit.errors import DestinationError
from include.lyve_audit.influx import GzippedBatch, InfluxTarget
from include.lyve_audit.pipeline import Settings, load_staged
from tests.conftest import INFLUX_ORG, INFLUX_TOKEN, ROOT, S3_ACCESS_KEY, S3_SECRET_KEY
from tests.support.dag_process import result_of
from tests.support.deployment import Deployment, entries_by_kind
from tests.support.influx_engine import ProxyHandler, free_port
from tests.support.influx_stub import StubInflux2
from tests.support.pipeline_env import airflow_variables, report_of, run_interval, run_manual, task_results, unique_name
from tests.support.restartable_influx import RestartableInflux
from tests.support.s3_faults import Fault, FaultyS3Proxy

pytestmark = pytest.mark.integration

HOUR_START = datetime(2026, 1, 31, 22, tzinfo=UTC)
HOUR_END = HOUR_START + timedelta(hours=1)
SMALL_BATCHES = Settings(batch_bytes=16 << 10)  # many staged batches, one write request each: faults land mid-object
SMALL_BATCH_VARIABLES = {"lyve_batch_bytes": str(SMALL_BATCHES.batch_bytes)}  # the same, for the DAG's runs


def upload_hour(deployment: Deployment, seed: int, s3_entries: int = 40) -> list[GeneratedObject]:
    objects = list(generate(HOUR_START, 1, seed=seed, s3_entries=s3_entries))
    for generated in objects:
        deployment.put(generated.key, body=generated.body())
    return objects


def assert_exact(deployment: Deployment, objects: list[GeneratedObject]) -> None:
    """Points per measurement equal the entries, and the ledger names every object exactly once."""
    assert deployment.counts() == entries_by_kind(objects)
    assert deployment.ledger_keys() == sorted(generated.key for generated in objects)


def parse_hour() -> list[ParsedObject]:
    """The hour planned and parsed by the DAG's own tasks (load, report and record marked done without running, so
    that the staged files wait for the test's loads); returns what parse_objects passed on."""
    with airflow_variables(SMALL_BATCH_VARIABLES):
        run = run_interval(HOUR_END, mark_success="load_points|report|record_run")
    return [ref for group in task_results(run, "parse_objects") for ref in group]


# --- 1. InfluxDB unreachable when the load starts, or killed in the middle of it -------------------------------------


@pytest.fixture(scope="module")
def own_influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableInflux]:
    """An engine of this module's own, since these tests kill it."""
    server = RestartableInflux(tmp_path_factory.mktemp("influx-killable")).start()
    yield server
    server.stop()


def fast_failing_retries() -> Retry:
    return Retry(total=2, connect=2, read=2, status=2, backoff_factor=0.05, allowed_methods=None, raise_on_status=False)


@pytest.mark.parametrize(
    ("when", "outage_s", "attempts"),
    [
        pytest.param("before-load", 1.0, 1, id="down-at-start-back-within-the-write-retries"),
        pytest.param("mid-load", 1.0, 1, id="killed-mid-load-back-within-the-write-retries"),
        pytest.param("before-load", None, 2, id="down-at-start-past-the-retries-task-retry-completes"),
        pytest.param("mid-load", None, 2, id="killed-mid-load-past-the-retries-task-retry-completes"),
    ],
)
def test_influx_outage_during_load(
    deployment: Deployment,
    own_influx: RestartableInflux,
    monkeypatch: pytest.MonkeyPatch,
    when: str,
    outage_s: float | None,
    attempts: int,
) -> None:
    """SIGKILL of the engine (connection refused). Back within urllib3's write retries: the same attempt completes.
    Down longer: the attempt fails with a retryable error (not DestinationError, so Airflow retries it) and the task's
    next try completes. Either way: exact counts, each object once in the ledger, no staged file left.
    """
    objects = upload_hour(deployment, seed=31, s3_entries=120)
    refs = parse_hour()
    database = unique_name("outage")
    own_influx.engine.create_database(database)
    target = InfluxTarget(url=own_influx.url, org=INFLUX_ORG, bucket=database, token=INFLUX_TOKEN)
    if outage_s is None:
        monkeypatch.setattr(influx, "write_retries", fast_failing_retries)
    outages: list[str] = []

    def outage() -> None:
        own_influx.kill()
        outages.append(when)
        if outage_s is not None:
            threading.Timer(outage_s, own_influx.start).start()

    if when == "before-load":
        outage()
    else:
        original = influx.write_batch
        batches = [0]

        def write_batch_then_kill(client: Any, target: InfluxTarget, batch: GzippedBatch) -> None:
            original(client, target, batch)
            batches[0] += 1
            if batches[0] == 5:
                outage()

        monkeypatch.setattr(influx, "write_batch", write_batch_then_kill)

    tries = 0
    while True:
        tries += 1
        try:
            load_staged(refs, target, ObjectStoragePath)
            break
        except DestinationError:
            raise
        except Exception as error:  # what Airflow would retry
            assert tries < attempts, f"unexpected failure on try {tries}: {error!r}"
            assert INFLUX_TOKEN not in str(error)
            if when == "mid-load":
                assert 0 < own_influx_count(own_influx, database) < sum(entries_by_kind(objects).values())
            own_influx.start()
    assert outages == [when]
    assert tries == attempts
    for _ in range(100):  # the Timer may still be bringing the engine up for the last check
        if own_influx.running:
            break
        time.sleep(0.1)
    view = Deployment(own_influx.engine, None, "", database, deployment.stage, target)
    assert view.counts() == entries_by_kind(objects)
    assert view.ledger_keys() == sorted(generated.key for generated in objects)
    assert deployment.staged_left() == []


def own_influx_count(server: RestartableInflux, database: str) -> int:
    """Points already in the engine while it is down: read its files by starting it briefly."""
    server.start()
    try:
        return sum(server.engine.count(measurement, database) for measurement in ("audit-01", "iam-01", "console-01"))
    finally:
        server.kill()


# --- 2. InfluxDB 2 refusals: fail the load task at once, naming bucket and org ----------------------------------------


@pytest.fixture
def stub() -> Iterator[Callable[[list[tuple[int, dict[str, str], dict[str, Any]]]], StubInflux2]]:
    stubs: list[StubInflux2] = []

    def make(answers: list[tuple[int, dict[str, str], dict[str, Any]]]) -> StubInflux2:
        stubs.append(StubInflux2(answers))
        return stubs[-1]

    yield make
    for made in stubs:
        made.close()


def test_unprocessable_entity_fails_at_once_with_the_servers_reason(stub: Any) -> None:
    """Stub (no InfluxDB 2 here): a 422 (e.g. points beyond retention) is a DestinationError after exactly 1 request."""
    body = {"code": "unprocessable entity", "message": "failure writing points: partial write: points beyond retention"}
    server = stub([(422, {"Content-Type": "application/json"}, body)])
    with influx.open_client(server.target) as client, pytest.raises(DestinationError) as raised:
        influx.write_lines(client, server.target, [b"m v=1i 1"])
    message = str(raised.value)
    assert "bucket 'audit' of org 'acme'" in message and "rejected lines (HTTP 422)" in message
    assert "points beyond retention" in message and "s3cr3t-token" not in message
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param(401, "token rejected (HTTP 401) for bucket '{bucket}' of org 'test-org'", id="401-token"),
        pytest.param(404, "bucket '{bucket}' of org 'test-org' at http://127.0.0.1:", id="404-bucket"),
        pytest.param(422, "bucket '{bucket}' of org 'test-org' at http://127.0.0.1:", id="422-rejected"),
    ],
)
def test_refused_write_fails_the_load_task_without_retries(
    deployment: Deployment,
    stub: Any,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    status: int,
    expected: str,
) -> None:
    """Stub (no InfluxDB 2 here) accepting the plan record, then answering every write with `status`: the DAG run
    fails, load_points is failed on try 1 (AirflowFailException: no retries burnt), 1 load request sent, the log names
    bucket and org and not the token.
    """
    refused = (status, {"Content-Type": "application/json"}, {"code": "x", "message": "refused"})
    server = stub([(204, {}, {}), *[refused] * 50])
    monkeypatch.setenv(
        "AIRFLOW_CONN_INFLUXDB_DEFAULT",
        json.dumps(
            {
                "conn_type": "influxdb",
                "host": "127.0.0.1",
                "port": server.server.server_address[1],
                "schema": "http",
                "extra": {"token": INFLUX_TOKEN, "org": INFLUX_ORG},
            }
        ),
    )
    iam = next(generated for generated in generate(HOUR_START, 1, seed=3, s3_entries=1) if "/IAM-" in generated.key)
    deployment.put(iam.key, body=iam.body())
    run = run_interval(HOUR_END)
    output = capfd.readouterr()
    assert run.state == "failed"
    states = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert states["load_points"] == ("failed", 1)
    assert states["parse_objects"] == ("success", 1)
    assert states["record_run"] == ("failed", 1), "the run's outcome record is refused the same way, not retried"
    assert [path.split("?")[0] for _, path, _, _ in server.requests] == ["/api/v2/write"] * 3
    bodies = [zlib.decompress(body, wbits=31) for _, _, _, body in server.requests]
    assert bodies[0].startswith(b"lyve-pipeline-plan") and bodies[2].startswith(b"lyve-pipeline-run")
    assert len(server.requests) == 3, "the plan record, the refused batch (not retried), the run's outcome record"
    text = output.out + output.err
    assert expected.format(bucket=deployment.database) in text
    assert INFLUX_TOKEN not in text and S3_SECRET_KEY not in text


class OverloadedInflux:
    """The write proxy in front of the real engine, answering the next `overloaded` point writes with 503 (as an
    overloaded InfluxDB 2 does); plan records pass, so only the load meets the overload."""

    def __init__(self, engine: Any, overloaded: int) -> None:
        self.overloaded = overloaded
        self.refused = 0
        outer = self

        class Handler(ProxyHandler):
            upstream = ("127.0.0.1", engine.http_port)

            def do_POST(self) -> None:  # noqa: N802 - the stdlib handler's name
                length = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(length)
                self.rfile = io.BufferedReader(io.BytesIO(body))  # type: ignore[assignment]
                plan_record = zlib.decompress(body, wbits=31).startswith(b"lyve-pipeline-plan")
                if not plan_record and outer.overloaded > 0:
                    outer.overloaded -= 1
                    outer.refused += 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._forward("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_overload_beyond_the_client_retries_is_retried_by_airflow(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every write request of the load's first try answered 503 (urllib3 gives up after its retries): load_points
    ends that try up_for_retry, not failed, and its next try (the endpoint recovered) completes the run exactly.
    """
    objects = upload_hour(deployment, seed=51)
    policy = influx.write_retries
    monkeypatch.setattr(influx, "write_retries", lambda: policy(total=2, backoff_factor=0.01))  # 1 + 2 retries
    proxy = OverloadedInflux(deployment.engine, overloaded=3)
    monkeypatch.setenv("LYVE_AUDIT_RETRY_DELAY_SECONDS", "1")
    conn = {"conn_type": "influxdb", "host": "127.0.0.1", "port": proxy.port, "schema": "http"}
    conn["extra"] = {"token": INFLUX_TOKEN, "org": INFLUX_ORG}
    monkeypatch.setenv("AIRFLOW_CONN_INFLUXDB_DEFAULT", json.dumps(conn))
    try:
        run = run_interval(HOUR_END)
    finally:
        proxy.close()
    assert proxy.refused == 3
    assert run.state == "success"
    load = next(ti for ti in run.get_task_instances() if ti.task_id == "load_points")
    # A second try exists only if the first ended up_for_retry: AirflowFailException would have failed the run at try 1.
    # (Airflow's history keeps an earlier try that ended up_for_retry as "failed".)
    assert (load.state, load.try_number) == ("success", 2)
    assert task_history(run.run_id, "load_points") == [(1, "failed")]
    assert_exact(deployment, objects)


def task_history(run_id: str, task_id: str) -> list[tuple[int, str]]:
    """(try, state) of a task's earlier tries, as Airflow recorded them."""
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstanceHistory).filter_by(run_id=run_id, task_id=task_id)
        return sorted((row.try_number, str(row.state)) for row in rows)


# --- 3. S3 faults, through the real S3Hook behind a fault-injecting proxy ---------------------------------------------


@pytest.fixture
def s3_faults(deployment: Deployment, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyS3Proxy]:
    """Point connection `lyve_cloud` at a fault proxy in front of moto, with botocore settings in `config_kwargs`."""
    proxy = FaultyS3Proxy(moto_url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LYVE_CLOUD",
        json.dumps(
            {
                "conn_type": "aws",
                "login": S3_ACCESS_KEY,
                "password": S3_SECRET_KEY,
                "extra": {
                    "endpoint_url": proxy.url,
                    "region_name": "us-east-1",
                    "config_kwargs": {
                        "retries": {"mode": "standard", "max_attempts": 5},
                        "connect_timeout": 1,
                        "read_timeout": 1,
                    },
                },
            }
        ),
    )
    yield proxy
    proxy.close()


def test_s3_slowdown_is_retried_and_the_run_is_exact(deployment: Deployment, s3_faults: FaultyS3Proxy) -> None:
    """The first 4 distinct S3 requests (the listing, then object reads) each get 503 SlowDown once: botocore
    retries them (connection extra `config_kwargs.retries`), the DAG run succeeds, the counts are exact. Each of the
    11 objects is read with exactly one GET that S3 answers (no HEAD before it).
    """
    s3_faults.faults.append(Fault("SlowDown", status=503, once_per_request=True, times=4))
    objects = upload_hour(deployment, seed=32, s3_entries=5)
    deployment.run(HOUR_END)
    assert_exact(deployment, objects)
    hit = s3_faults.injected("SlowDown")
    assert len(hit) == 4 and {method for method, _, _ in hit} == {"GET"}
    assert "list-type=2" in hit[0][1], "the listing of January-2026/ was the first request hit"
    answered = [(method, path) for method, path, action in s3_faults.requests if not action]
    reads = sorted(request for request in answered if "list-type=2" not in request[1])
    assert len(objects) == 11
    assert reads == sorted(("GET", f"/{deployment.log_bucket}/{generated.key}") for generated in objects)


def test_s3_timeouts_are_retried_and_the_hour_is_exact(deployment: Deployment, s3_faults: FaultyS3Proxy) -> None:
    """The first listing and the first object read hang past `read_timeout` (1 s): botocore retries, counts exact."""
    s3_faults.faults.append(Fault("hang", method="GET", path_contains="list-type=2", times=1, delay=2.5))
    s3_faults.faults.append(Fault("hang", method="GET", path_contains="/S3-", times=1, delay=2.5))
    objects = upload_hour(deployment, seed=33, s3_entries=5)
    summary = deployment.report(HOUR_END)
    assert_exact(deployment, objects)
    assert len(s3_faults.injected("hang")) == 2
    assert sum(row["points_written"] for row in summary["by_kind"].values()) == sum(entries_by_kind(objects).values())


def test_s3_access_denied_fails_the_run_at_once_with_a_clear_error(
    deployment: Deployment, s3_faults: FaultyS3Proxy, capfd: pytest.CaptureFixture[str]
) -> None:
    """403 AccessDenied on the listing: plan_objects fails on try 1, the log names bucket, prefix and connection."""
    s3_faults.faults.append(Fault("AccessDenied", status=403))
    upload_hour(deployment, seed=34, s3_entries=2)
    run = run_interval(HOUR_END)
    output = capfd.readouterr()
    assert run.state == "failed"
    plan = next(ti for ti in run.get_task_instances() if ti.task_id == "plan_objects")
    assert (plan.state, plan.try_number) == ("failed", 1)
    expected = f"S3 refused listing bucket '{deployment.log_bucket}' prefix 'January-2026/' (AccessDenied)"
    text = output.out + output.err
    assert expected in text and "connection 'lyve_cloud'" in text
    assert S3_SECRET_KEY not in text and INFLUX_TOKEN not in text


def test_s3_access_denied_on_an_object_names_the_object(
    deployment: Deployment, s3_faults: FaultyS3Proxy, capfd: pytest.CaptureFixture[str]
) -> None:
    """403 on reading one object (listing allowed): a SourceError naming the object fails parse_objects at once."""
    objects = upload_hour(deployment, seed=35, s3_entries=2)
    denied = objects[0].key
    s3_faults.faults.append(Fault("AccessDenied", status=403, path_contains=denied))
    run = run_interval(HOUR_END)
    output = capfd.readouterr()
    assert run.state == "failed"
    parse = next(ti for ti in run.get_task_instances() if ti.task_id == "parse_objects")
    assert (parse.state, parse.try_number) == ("failed", 1)
    text = output.out + output.err
    assert f"S3 refused reading s3://{deployment.log_bucket}/{denied} (" in text
    assert S3_SECRET_KEY not in text


def test_object_gone_before_it_is_read_is_counted_and_the_run_succeeds(
    deployment: Deployment, s3_faults: FaultyS3Proxy
) -> None:
    """Listed, then 404 NoSuchKey when read: the run succeeds, the report counts 1 missing object, the rest is exact."""
    objects = upload_hour(deployment, seed=36, s3_entries=5)
    gone = next(generated for generated in objects if "/IAM-" in generated.key)
    s3_faults.faults.append(Fault("NoSuchKey", status=404, path_contains=gone.key))
    report = deployment.report(HOUR_END)
    assert report["objects_missing"] == 1 and report["missing_keys"] == [gone.key]
    assert report["by_kind"]["iam"]["objects_selected"] == 1 and report["by_kind"]["iam"]["objects_loaded"] == 0
    remaining = [generated for generated in objects if generated is not gone]
    assert_exact(deployment, remaining)


def test_s3_connection_dropped_mid_object_fails_the_attempt_and_the_retry_is_exact(
    deployment: Deployment, s3_faults: FaultyS3Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body of one object is cut off mid-way by the network: that is not a damaged object, so nothing is
    quarantined and the parse attempt ends up_for_retry (not failed at once); the retry reads the whole object:
    no bad line, counts exact.
    """
    objects = upload_hour(deployment, seed=37, s3_entries=300)
    cut = objects[0].key
    s3_faults.faults.append(Fault("cut", method="GET", path_contains=cut, times=1))
    monkeypatch.setenv("LYVE_AUDIT_RETRY_DELAY_SECONDS", "1")
    run = deployment.run(HOUR_END)
    parse = next(ti for ti in run.get_task_instances() if ti.task_id == "parse_objects")
    assert (parse.state, parse.try_number) == ("success", 2)
    assert task_history(run.run_id, "parse_objects") == [(1, "failed")]
    assert len(s3_faults.injected("cut")) == 1
    assert deployment.quarantined() == []
    report = report_of(run)
    assert [row["entries_bad"] for row in report["by_kind"].values()] == [0, 0, 0]
    assert sum(row["objects_selected"] for row in report["by_kind"].values()) == len(objects)
    assert_exact(deployment, objects)


# --- 4. A worker SIGKILLed in the middle of parse or load ------------------------------------------------------------


def dag_process(spec: dict[str, Any], variables: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """The DAG's run in a process of its own (tests/support/dag_process.py), which the spec may SIGKILL mid-task."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.update({f"AIRFLOW_VAR_{name.upper()}": value for name, value in (variables or {}).items()})
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.dag_process", json.dumps(spec)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def killed(spec: dict[str, Any], variables: dict[str, str] | None = None) -> None:
    process = dag_process(spec, variables)
    _, err = process.communicate(timeout=300)
    assert process.returncode == -9, err.decode()[-2000:]


def test_worker_killed_mid_load_then_a_rerun_is_exact(deployment: Deployment) -> None:
    """SIGKILL after 4 write requests (the plan record, the IAM object's batch and ledger point, then inside the first
    S3 object: its points partly written, no ledger point, its staged files kept); the hour's run again writes
    everything once more; the counts are exact and each object is once in the ledger.

    dag.test() replaces the killed run by one with a run id of its own, so the killed run's staged files stay (never
    loaded). A task's retry within the same run, after a SIGKILL, needs the scheduler: test_scheduler_e2e.
    """
    objects = upload_hour(deployment, seed=41, s3_entries=120)
    iam = next(generated.key for generated in objects if "/IAM-" in generated.key)  # loaded first: keys in order
    killed({"interval_end": HOUR_END.isoformat(), "kill": "load", "kill_after": 4}, SMALL_BATCH_VARIABLES)
    written = sum(deployment.counts().values())
    assert 0 < written < sum(entries_by_kind(objects).values())
    assert deployment.ledger_keys() == [iam]
    leftovers = deployment.staged_left()
    assert len(leftovers) == len(objects) - 1
    deployment.run(HOUR_END, SMALL_BATCH_VARIABLES)
    assert_exact(deployment, objects)
    assert deployment.staged_left() == leftovers


@pytest.mark.parametrize("rerun", ["the-hours-run-again", "a-manual-run-of-the-hour"])
def test_worker_killed_mid_parse_then_the_rerun_is_exact(deployment: Deployment, rerun: str) -> None:
    """SIGKILL after 500 staged lines leaves an incomplete staged file; a rerun (the hour's run again, or a manual run
    of the hour: each a run id and staging folder of its own, the leftover is never loaded) parses and loads exactly
    once.
    """
    objects = upload_hour(deployment, seed=42, s3_entries=120)
    killed({"interval_end": HOUR_END.isoformat(), "kill": "parse", "kill_after": 500})
    leftovers = deployment.staged_left()
    assert 1 <= len(leftovers) < len(objects)
    if rerun == "the-hours-run-again":
        deployment.run(HOUR_END)
    else:
        assert run_manual(HOUR_START).state == "success"
    assert_exact(deployment, objects)
    assert deployment.staged_left() == leftovers


# --- 5. Two runs of the same hour at the same time (a manual run over the scheduled one) ---------------------------


def test_two_runs_of_the_same_hour_at_once_are_exact(deployment: Deployment) -> None:
    """Two processes run the DAG for the same hour at the same moment (the hour's run, and a manual run of the hour
    with a run id of its own): both succeed, each reports every entry written, and the points and the ledger are
    exactly one copy.
    """
    objects = upload_hour(deployment, seed=51, s3_entries=120)
    start_at = time.time() + 4
    specs = [
        {"interval_end": HOUR_END.isoformat()},
        {"interval_start": HOUR_START.isoformat(), "logical_date": (HOUR_END + timedelta(minutes=30)).isoformat()},
    ]
    # many write requests each, so the two loads interleave
    processes = [dag_process(spec | {"start_at": start_at}, SMALL_BATCH_VARIABLES) for spec in specs]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err.decode()[-2000:] for _, err in outputs]
    results = [result_of(out) for out, _ in outputs]
    assert [result["state"] for result in results] == ["success", "success"]
    assert len({result["run_id"] for result in results}) == 2
    total = sum(entries_by_kind(objects).values())
    for result in results:
        assert sum(row["points_written"] for row in result["report"]["by_kind"].values()) == total
    assert_exact(deployment, objects)
    assert deployment.staged_left() == []
