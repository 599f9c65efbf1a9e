"""A small evaluator of provisioned Grafana alert rules against the InfluxDB engine, following Grafana's documented
semantics, because no Grafana binary runs here (docs/security.md says how to compare it with a real Grafana).

What it does, as Grafana-managed alerting does:
- each InfluxDB query runs over `now - relativeTimeRange.from` … `now - relativeTimeRange.to`; Grafana's InfluxQL
  backend fills `$timeFilter` with `time >= <from>ms and time <= <to>ms`, `$__interval`/`$interval` with the query's
  interval (the largest of `intervalMs`, the datasource's `timeInterval` and range / `maxDataPoints`) and
  `$__interval_ms` with it in milliseconds;
- a time-series result is one series per tag set, whose labels are the tags;
- `reduce` turns each series into one number (last, mean, min, max, sum, count) after its mode (strict: a null or
  NaN makes NaN; dropNN: nulls and NaN dropped; replaceNN: replaced by `replaceWithValue`); an empty series reduces
  to NaN, but `count` and `sum` to 0;
- `threshold` gives 1 or 0 per series (gt, lt, within_range, outside_range and their `_included` forms; NaN is 0);
- the condition's non-zero series are firing; a query with no series at all is NoData, which `noDataState` maps to
  Alerting, NoData, OK (Normal) or KeepLast;
- a query that fails is mapped by `execErrState` (Alerting, Error, OK, KeepLast);
- `for`: a firing series is Pending until it has fired at every evaluation for that long, then Alerting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.support.influx_engine import InfluxEngine

DATASOURCE_TIME_INTERVAL_MS = 60_000  # grafana/provisioning/datasources/influxdb.yaml: timeInterval 1m
EXPRESSION_UID = "__expr__"
Labels = tuple[tuple[str, str], ...]
NO_DATA: Labels = (("state", "NoData"),)
ERROR: Labels = (("state", "Error"),)


def parse_duration(text: str) -> timedelta:
    """A Prometheus-style duration as Grafana's provisioning reads `for` (`0s`, `5m`, `1h30m`, `2d`)."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(seconds=sum(int(number) * units[unit] for number, unit in parts))


def format_interval(milliseconds: int) -> str:
    """Grafana's `gtime.FormatInterval`: the largest whole unit (d, h, m, s, ms)."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if milliseconds >= size:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms"


def render(query: str, start_ms: int, end_ms: int, model: dict[str, Any]) -> str:
    """The InfluxQL Grafana's backend sends for this range."""
    span = max(end_ms - start_ms, 0)
    interval_ms = max(int(model.get("intervalMs", 1000)), DATASOURCE_TIME_INTERVAL_MS)
    interval_ms = max(interval_ms, span // int(model.get("maxDataPoints", 43200)))
    text = query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    text = text.replace("$__interval_ms", str(interval_ms))
    text = text.replace("$__interval", format_interval(interval_ms)).replace("$interval", format_interval(interval_ms))
    if re.search(r"\$[\w{]", text):
        raise ValueError(f"a macro the alerting backend does not fill is left in {text!r}")
    return text


def _reduce(values: list[float | None], reducer: str, settings: dict[str, Any]) -> float:
    mode = settings.get("mode", "strict")
    numbers: list[float] = []
    for value in values:
        missing = value is None or math.isnan(value)
        if missing and mode == "dropNN":
            continue
        if missing and mode == "replaceNN":
            value = float(settings["replaceWithValue"])
        numbers.append(math.nan if value is None else float(value))
    if reducer == "count":
        return float(len(numbers))
    if reducer == "sum":
        return float(sum(numbers))
    if not numbers:
        return math.nan
    if mode == "strict" and any(math.isnan(number) for number in numbers):
        return math.nan
    if reducer == "last":
        return numbers[-1]
    if reducer == "mean":
        return sum(numbers) / len(numbers)
    if reducer == "min":
        return min(numbers)
    if reducer == "max":
        return max(numbers)
    raise ValueError(f"reducer {reducer!r} is not one Grafana offers")


def _compare(value: float, kind: str, params: list[float]) -> bool:
    if math.isnan(value):
        return False
    low = params[0]
    high = params[1] if len(params) > 1 else math.nan
    checks = {
        "gt": value > low,
        "lt": value < low,
        "within_range": low < value < high,
        "outside_range": value < low or value > high,
        "within_range_included": low <= value <= high,
        "outside_range_included": value <= low or value >= high,
    }
    if kind not in checks:
        raise ValueError(f"threshold type {kind!r} is not one Grafana offers")
    return checks[kind]


@dataclass
class Evaluation:
    """One evaluation: the number of each series at each step, and the condition's firing series."""

    values: dict[str, dict[Labels, float]]
    firing: dict[Labels, bool]
    no_data: bool


def evaluate(rule: dict[str, Any], engine: InfluxEngine, database: str, now: datetime) -> Evaluation:
    """Run the rule's queries and expressions once, at `now`."""
    now_ms = int(now.timestamp() * 1000)
    results: dict[str, dict[Labels, Any]] = {}
    no_data = False
    for item in rule["data"]:
        model = item["model"]
        ref = item["refId"]
        if item["datasourceUid"] != EXPRESSION_UID:
            span = item["relativeTimeRange"]
            query = render(model["query"], now_ms - span["from"] * 1000, now_ms - span["to"] * 1000, model)
            series: dict[Labels, list[float | None]] = {}
            for found in engine.query(query, database):
                columns = series_columns(found)
                labels = tuple(sorted(found.get("tags", {}).items()))
                series[labels] = [row[columns] for row in found["values"]]
            results[ref] = series
            no_data = no_data or not series
        elif model["type"] == "reduce":
            source = results[model["expression"]]
            settings = model.get("settings", {})
            results[ref] = {labels: _reduce(values, model["reducer"], settings) for labels, values in source.items()}
        elif model["type"] == "threshold":
            source = results[model["expression"]]
            evaluator = model["conditions"][0]["evaluator"]
            results[ref] = {
                labels: float(_compare(value, evaluator["type"], evaluator["params"]))
                for labels, value in source.items()
            }
        else:
            raise ValueError(f"expression type {model['type']!r} is not evaluated here")
    condition = results[rule["condition"]]
    return Evaluation(
        values={ref: value for ref, value in results.items() if not _is_series(value)},
        firing={labels: value != 0 for labels, value in condition.items()},
        no_data=no_data,
    )


def series_columns(found: dict[str, Any]) -> int:
    """The index of a series' one value column (a time-series query answers time plus one value here)."""
    value_columns = [index for index, name in enumerate(found["columns"]) if name != "time"]
    assert len(value_columns) == 1, f"a rule's query must return one value column, got {found['columns']}"
    return value_columns[0]


def _is_series(value: dict[Labels, Any]) -> bool:
    return any(isinstance(item, list) for item in value.values())


@dataclass
class RuleState:
    """Alert states per label set after a sequence of evaluations, with `for` and `noDataState` applied."""

    states: dict[Labels, str] = field(default_factory=dict)
    last: Evaluation | None = None

    def alerting(self) -> set[Labels]:
        return {labels for labels, state in self.states.items() if state == "Alerting"}


def run(rule: dict[str, Any], engine: InfluxEngine, database: str, times: Iterable[datetime]) -> RuleState:
    """Evaluate at each of `times` (in order, e.g. the group's interval apart) and return the final states."""
    hold = parse_duration(rule.get("for", "0s"))
    since: dict[Labels, datetime] = {}
    result = RuleState()
    for now in times:
        try:
            evaluation = evaluate(rule, engine, database, now)
        except RuntimeError:  # the query failed (InfluxQL error): `execErrState` decides
            mapped = {"Alerting": "Alerting", "Error": "Error", "OK": "Normal"}.get(rule.get("execErrState", "Error"))
            result.states = dict(result.states) if mapped is None else {ERROR: mapped}
            continue
        result.last = evaluation
        states: dict[Labels, str] = {}
        if evaluation.no_data:
            mapped = {"Alerting": "Alerting", "NoData": "NoData", "OK": "Normal"}.get(rule.get("noDataState", "NoData"))
            if mapped is None:  # KeepLast
                states = dict(result.states)
            else:
                states[NO_DATA] = mapped
        for labels, firing in evaluation.firing.items():
            if not firing:
                since.pop(labels, None)
                states[labels] = "Normal"
                continue
            started = since.setdefault(labels, now)
            states[labels] = "Alerting" if now - started >= hold else "Pending"
        result.states = states
    return result


def grafana_test_body(rule: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The body of Grafana's `POST /api/v1/rule/test/grafana` for this rule at `now`, to compare with `evaluate`."""
    return {"grafana_condition": {"condition": rule["condition"], "data": rule["data"], "now": now.isoformat()}}
