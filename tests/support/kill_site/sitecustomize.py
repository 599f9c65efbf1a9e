"""Loaded at start-up by every Python process whose PYTHONPATH begins with this folder: installs the kill points
that `LYVE_TEST_KILL_POINTS` (JSON, see `tests.support.kill_points.install`) names, so that a task process of a real
scheduler dies mid-task. Without the variable it does nothing."""

from __future__ import annotations

import json
import os

if os.environ.get("LYVE_TEST_KILL_POINTS"):
    from tests.support.kill_points import install

    install(json.loads(os.environ["LYVE_TEST_KILL_POINTS"]))
