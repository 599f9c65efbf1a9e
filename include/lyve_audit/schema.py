"""The InfluxDB schema: each log kind's measurement and line encoder, one module per kind (include/lyve_audit/kinds).

- S3 API → `audit-01` (kinds/s3.py), Console → `console-01` (kinds/console.py), IAM → `iam-01` (kinds/iam.py),
  kept compatible with the system this replaces (its six dashboard queries).

Per-request values (request ID, object key, user agent, ports) are fields, never tags, so series stay bounded.
Every point has `entry_bytes` (the entry's size) and, unless turned off, `message` (the entry's JSON as logged).
"""

from __future__ import annotations

from include.lyve_audit.keys import CONSOLE, IAM, S3
from include.lyve_audit.kinds import console, iam, s3
from include.lyve_audit.kinds.values import LineParts

MEASUREMENTS = {S3: s3.MEASUREMENT, CONSOLE: console.MEASUREMENT, IAM: iam.MEASUREMENT}
LINE_PARTS: dict[str, LineParts] = {S3: s3.line_parts, CONSOLE: console.line_parts, IAM: iam.line_parts}
"""Per kind: (line bytes, include message) → (series, point, time_ns); a line that cannot be a point raises
BadLine."""
