"""Deploying into an existing Airflow as the README says: the DAG file and `include/` copied into the DAGs folder
(`include/` in its `.airflowignore`), the distribution installed for the connection type; nothing on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json
from pathlib import Path
from airflow.configuration import conf
from airflow.dag_processing.dagbag import BundleDagBag
from airflow.providers_manager import ProvidersManager
folder = Path(conf.get("core", "dags_folder"))
# As the dag-processor and the task runner parse the DAGs folder's bundle: its path goes on sys.path.
bag = BundleDagBag(folder, bundle_path=folder, bundle_name="dags-folder")
import include.lyve_audit_airflow as glue  # what the tasks import at run time
print(json.dumps({
    "dags": sorted(bag.dag_ids),
    "errors": {path: str(error) for path, error in bag.import_errors.items()},
    "files": sorted(stat.file for stat in bag.dagbag_stats),
    "glue": glue.__file__,
    "connection_type": "lyve_influxdb" in ProvidersManager().field_behaviours,
}))
"""


def test_dags_folder_layout_parses_and_imports(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    # The README's commands, with $DAGS_FOLDER = dags.
    shutil.copy(ROOT / "dags" / "lyve_audit_logs.py", dags)
    shutil.copytree(ROOT / "include", dags / "include", ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"))
    (dags / ".airflowignore").write_text("include/\n")

    env = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "PYTHONPATH"))}
    env.update({"AIRFLOW_HOME": str(tmp_path / "home"), "AIRFLOW__CORE__DAGS_FOLDER": str(dags)})
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["dags"] == ["lyve_audit_logs"]
    assert found["errors"] == {}
    assert found["files"] == ["lyve_audit_logs.py"]  # include/ is not parsed as DAG files
    assert found["glue"] == str(dags / "include" / "lyve_audit_airflow.py")
    assert found["connection_type"] is True  # `pip install .` registered the lyve_influxdb type
