"""The `lyve_influxdb` connection type in the real Airflow UI: chosen in the Add Connection form, its labelled fields
filled in by clicks and keystrokes in Debian's headless chromium, saved, and read back as the pipeline reads it.

The screenshots of the form are written to `tmp_path`, or to `docs/` with `make screenshot` (LYVE_SCREENSHOT_DIR).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from include.lyve_audit.influx import ConnectionFields, InfluxTarget, target_from_connection
from tests.support.browser import Browser
from tests.support.influx_engine import free_port, wait_for_http

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TYPE_LABEL = "InfluxDB (1.x, 2.x, 3.x) for Lyve audit logs"


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An api-server of its own (SQLite, every user an admin) with this package's provider installed."""
    home = tmp_path_factory.mktemp("ui-home")
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "PYTHONPATH"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": "",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        }
    )
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, capture_output=True, check=True, timeout=300)
    with (home / "api-server.log").open("wb") as log:
        server = subprocess.Popen(
            [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/v2/version", timeout=180)
        yield f"http://127.0.0.1:{port}", home / "airflow.db"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def center(browser: Browser, element: str) -> tuple[float, float]:
    """Scroll `element` (a JS expression) into view and return its centre."""
    x, y = browser.evaluate(
        f"(() => {{ const e = {element}; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    return float(x), float(y)


def button(text: str) -> str:
    return f"Array.from(document.querySelectorAll('button')).find(b => b.innerText.trim() === {text!r})"


def fill(browser: Browser, selector: str, text: str) -> None:
    """Type into a field, then wait until it holds the text (a section still opening can move it under the click)."""
    element = f"document.querySelector({selector!r})"
    browser.click(*center(browser, element))
    browser.evaluate(f"{element}.focus()")
    browser.type_text(text)
    browser.wait_for(f"{element}.value === {text!r}")


def choose(browser: Browser, combobox: str, text: str, option: str) -> None:
    """Type into a select's combobox and take the option it offers."""
    browser.click(*center(browser, combobox))
    browser.type_text(text)
    browser.wait_for(f"Array.from(document.querySelectorAll('[role=option]')).some(o => o.innerText === {option!r})")
    browser.press("Enter", "Enter", 13)


def saved_connection(database: Path, timeout_s: float = 30.0) -> tuple[str, ...] | None:
    """The row of `influxdb_default` once the UI has saved it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as connection:
            row = connection.execute(
                "SELECT conn_type, host, login, password, extra, is_encrypted, is_extra_encrypted FROM connection "
                "WHERE conn_id = 'influxdb_default'"
            ).fetchone()
        if row is not None:
            return tuple(row)
        time.sleep(0.5)
    return None


def test_connection_form_has_labelled_fields_and_saves_what_the_pipeline_reads(
    airflow_ui: tuple[str, Path], tmp_path: Path
) -> None:
    url, database = airflow_ui
    shots = Path(os.environ.get("LYVE_SCREENSHOT_DIR", str(tmp_path)))
    browser = Browser()
    try:
        browser.goto(f"{url}/connections")
        browser.wait_for("document.body !== null && document.body.innerText.includes('Add Connection')")
        browser.click(*center(browser, button("Add Connection")))
        browser.wait_for("!!document.querySelector('input[name=connection_id]')")
        fill(browser, "input[name=connection_id]", "influxdb_default")
        choose(browser, "document.querySelector('[role=dialog] input[role=combobox]')", "Lyve", TYPE_LABEL)
        browser.wait_for("!!document.querySelector('input[name=host]')")
        dialog = "document.querySelector('[role=dialog]').innerText"
        for label in ("URL", "Username (1.x only)", "Token or password"):
            assert browser.evaluate(f"{dialog}.includes({label!r})"), label
        fill(browser, "input[name=host]", "https://influx.example.com:8181")
        fill(browser, "input[name=password]", "example-token")
        browser.screenshot(shots / "connection-form-standard.png")

        browser.click(*center(browser, button("Extra Fields")))
        browser.wait_for("!!document.querySelector('input[name=element_bucket]')")
        for label in ("Bucket / database", "Organization", "API version", "Retention policy"):
            assert browser.evaluate(f"{dialog}.includes({label!r})"), label
        fill(browser, "input[name=element_bucket]", "lyve_audit")
        fill(browser, "input[name=element_org]", "acme")
        version_box = "document.querySelector('input[name=element_api_version]').parentElement.querySelector('input')"
        choose(browser, version_box, "2", "2")
        browser.screenshot(shots / "connection-form.png")

        browser.click(*center(browser, button("Save")))
        row = saved_connection(database)
        assert row is not None, browser.evaluate("document.body.innerText")
    finally:
        browser.close()

    conn_type, host, login, password, extra, *encrypted = row
    assert encrypted == [False, False]
    fields = ConnectionFields(conn_type, host, None, "", login or "", password or "", json.loads(extra))
    assert target_from_connection(fields, None) == InfluxTarget(
        "https://influx.example.com:8181", "acme", "lyve_audit", "example-token", api_version=2
    )
