"""`make bench`: every figure of one run on the same generated data, printed as one table.

Floors (gunzip + split; + orjson.loads), this package's parse + encode and a naive encoder on the same object bytes;
the engine's own acceptance rate for the same lines (sink); the whole path S3 → parse → stage → load → InfluxDB for
one object and for two objects in two processes; peak RSS of parsing a ~1 GB object and one ten times smaller.
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import io
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from bench import data, e2e
from bench.catchup import catch_up_rows, table_rows
from bench.naive import naive_lines
from bench.planning import list_requests_per_run
from include.lyve_audit.__main__ import run_encode
from include.lyve_audit.background import quick_handoffs
from include.lyve_audit.encode import ObjectCounts, encode_lines
from include.lyve_audit.influx import DEFAULT_BATCH_BYTES, GzippedBatch, byte_batches
from include.lyve_audit.keys import S3
from include.lyve_audit.parse import READ_CHUNK, line_batches
from tests.support.influx_engine import free_port, start_engine_and_proxy, wait_for_http

ENTRIES = int(os.environ.get("BENCH_ENTRIES", "200000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
"""Each CPU timing is the best of this many runs; the engine-bound rates (sink, end to end) are the median of this
many runs each, taken in turns so that the machine's drift falls on both alike."""
SHAPE_ENTRIES = int(os.environ.get("BENCH_SHAPE_ENTRIES", "50000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
"""The rows with a speed target (each shape against its floor B, the encode command against parse + encode) are the
median of this many rounds on objects of SHAPE_ENTRIES entries (`in_rounds`)."""
CATCH_UP_HOURS = int(os.environ.get("BENCH_CATCHUP_HOURS", "24"))
"""Hours of small objects the scheduler catches up in the catch-up rows (0 leaves them out: about 10 minutes)."""
BIG_BYTES = int(os.environ.get("BENCH_BIG_BYTES", str(1_000_000_000)))
ONLY = os.environ.get("BENCH_ONLY", "")
"""`shapes`: only the per-shape parse + encode rows, printed and not written into docs/performance.md (a minute,
for measuring the encoder while changing it)."""
S3_BUCKET = "bench-logs"
TARGETS = {"floor_b": 0.50, "cli": 0.80, "naive": 15.0, "sink": 0.80, "rss_mb": 200.0}
PERFORMANCE_DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
TABLE_START, TABLE_END = "<!-- make bench: table start -->", "<!-- make bench: table end -->"


def log(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def best_of(run: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of REPEATS timed runs (what the code costs, less the machine's interruptions)."""
    return min((timed(run) for _ in range(REPEATS)), key=lambda result: result[0])


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate (the lower middle one for an even count)."""
    return sorted(runs, key=lambda run: run["rate"])[(len(runs) - 1) // 2]


def spread(runs: list[dict[str, Any]]) -> str:
    rates = sorted(run["rate"] for run in runs)
    return f"runs {rates[0]:,.0f}–{rates[-1]:,.0f}"


def inflated(body: bytes) -> Iterator[bytes]:
    """Streaming gunzip in READ_CHUNK pieces, the way the package reads objects (the floors' common part)."""
    inflater = zlib.decompressobj(wbits=31)
    source = io.BytesIO(body)
    while compressed := source.read(READ_CHUNK):
        while compressed:
            if piece := inflater.decompress(compressed, READ_CHUNK):
                yield piece
            compressed = inflater.unconsumed_tail
    while piece := inflater.decompress(b"", READ_CHUNK):
        yield piece


def split_lines(body: bytes) -> Iterator[bytes]:
    pending = b""
    for chunk in inflated(body):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


def floor_a(body: bytes) -> int:
    return sum(1 for line in split_lines(body) if line)


def floor_b(body: bytes) -> int:
    loads = orjson.loads
    count = 0
    for line in split_lines(body):
        if line:
            loads(line)
            count += 1
    return count


def encoded(body: bytes, entries: int = ENTRIES) -> Iterator[str]:
    """This package's parse + encode of one object: line-protocol lines, streamed as the stage writer takes them."""
    counts = ObjectCounts()
    yield from encode_lines(line_batches(io.BytesIO(body), "bench"), S3, "bench", counts, lambda record: None)
    if counts.bad or counts.points != entries:
        raise RuntimeError(f"unexpected counts {counts}")


def ours(body: bytes, entries: int = ENTRIES) -> int:
    """Lines are consumed one by one and not kept, like the floors' parsed entries (the product streams them), with
    the GIL switch interval `parse_objects` runs under."""
    with quick_handoffs():
        return sum(1 for _ in encoded(body, entries))


def cli_encode(path: Path, entries: int) -> int:
    """The `encode` command on a local object, in this process, its output to /dev/null; returns the points."""
    args = argparse.Namespace(file=str(path), no_message=False)
    saved = sys.stdout, sys.stderr
    with open(os.devnull, "w") as sink, open(os.devnull, "w") as errors:
        sys.stdout, sys.stderr = sink, errors
        try:
            if run_encode(args) != 0:
                raise RuntimeError("encode reported bad lines")
        finally:
            sys.stdout, sys.stderr = saved
    return entries


def in_rounds(base: Callable[[], int], measured: Callable[[], int], entries: int) -> dict[str, float]:
    """Time `base` and `measured` back to back in ROUNDS rounds (which goes first alternates); the median rate of
    each and the median and quartiles of the per-round ratio measured / base.

    This machine's speed drifts by a quarter within a minute, the same way for both runs of a round: the ratio of
    a round is steadier than either rate, and the median of rounds steadier than a best of runs timed apart."""
    ratios, base_rates, measured_rates = [], [], []
    for round_number in range(ROUNDS):
        runs = (base, measured) if round_number % 2 == 0 else (measured, base)
        seconds = {run: timed(run) for run in runs}
        if not seconds[base][1] == seconds[measured][1] == entries:
            raise RuntimeError("entry counts differ between measurements")
        base_rates.append(entries / seconds[base][0])
        measured_rates.append(entries / seconds[measured][0])
        ratios.append(measured_rates[-1] / base_rates[-1])
    ratios.sort()
    return {
        "base": statistics.median(base_rates),
        "measured": statistics.median(measured_rates),
        "ratio": statistics.median(ratios),
        "low": ratios[len(ratios) // 4],
        "high": ratios[-1 - len(ratios) // 4],
    }


def shape_rates(shape: str) -> dict[str, Any]:
    """Floor B and parse + encode, in rounds, on SHAPE_ENTRIES entries of one fixed shape (bench/data.py)."""
    lines = data.shape_lines(shape, SHAPE_ENTRIES)
    mean_bytes = sum(map(len, lines)) / len(lines)
    body = data.gzip_object(lines)
    del lines
    rounds = in_rounds(lambda: floor_b(body), lambda: ours(body, SHAPE_ENTRIES), SHAPE_ENTRIES)
    return {"body": body, "mean_bytes": mean_bytes, **rounds}


def write_into_doc(text: str) -> None:
    """Put the table between the markers of docs/performance.md (the doc always shows the last run)."""
    doc = PERFORMANCE_DOC.read_text()
    head, start, rest = doc.partition(TABLE_START)
    _, end, tail = rest.partition(TABLE_END)
    if not (start and end):
        raise RuntimeError(f"{PERFORMANCE_DOC}: table markers missing")
    PERFORMANCE_DOC.write_text(f"{head}{TABLE_START}\n```\n{text}```\n{TABLE_END}{tail}")


def naive(body: bytes) -> int:
    return sum(1 for _ in naive_lines(line for line in split_lines(body) if line))


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of another process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sink_rate(lines: list[bytes]) -> dict[str, float]:
    """Entries/s the engine accepts for these lines, gzip'd in DEFAULT_BATCH_BYTES batches beforehand, posted in
    order on one connection straight to the engine; and the engine's CPU cores used meanwhile."""
    engine, proxy, root = start_engine_and_proxy()
    try:
        engine.create_database("sink")
        bodies = [GzippedBatch.of(batch).body for batch in byte_batches(lines, DEFAULT_BATCH_BYTES)]
        connection = http.client.HTTPConnection("127.0.0.1", engine.http_port, timeout=600)
        cpu = process_cpu_s(engine.process.pid)  # type: ignore[union-attr]
        started = time.perf_counter()
        for body in bodies:
            connection.request("POST", "/write?db=sink&precision=ns", body=body, headers={"Content-Encoding": "gzip"})
            response = connection.getresponse()
            response.read()
            if response.status != 204:
                raise RuntimeError(f"sink write answered {response.status}")
        seconds = time.perf_counter() - started
        cores = (process_cpu_s(engine.process.pid) - cpu) / seconds  # type: ignore[union-attr]
        connection.close()
        return {"rate": len(lines) / seconds, "cores": cores}
    finally:
        proxy.stop()
        engine.stop()
        shutil.rmtree(root, ignore_errors=True)


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/moto-api/")
    return process, url


def end_to_end(
    pool: concurrent.futures.ProcessPoolExecutor, objects: list[dict[str, Any]], s3_url: str, work: Path
) -> dict[str, Any]:
    """Load `objects` (one worker process each, all at once) into a fresh engine; rate, cores, count read back."""
    engine, proxy, root = start_engine_and_proxy()
    try:
        engine.create_database("e2e")
        engine_cpu = process_cpu_s(engine.process.pid)  # type: ignore[union-attr]
        own_cpu = time.process_time()  # the proxy runs in this process
        started = time.perf_counter()
        futures = [
            pool.submit(e2e.run_object, described, s3_url, S3_BUCKET, proxy.url, "e2e", str(work / str(index)))
            for index, described in enumerate(objects)
        ]
        results = [future.result() for future in futures]
        seconds = time.perf_counter() - started
        cpu = sum(result["cpu_s"] for result in results)
        cpu += process_cpu_s(engine.process.pid) - engine_cpu + time.process_time() - own_cpu  # type: ignore[union-attr]
        entries = sum(result["entries"] for result in results)
        return {
            "rate": entries / seconds,
            "entries": entries,
            "points": sum(result["points"] for result in results),
            "read_back": engine.count("audit-01", "e2e"),
            "parse_s": max(result["parse_s"] for result in results),
            "load_s": max(result["load_s"] for result in results),
            "cores": cpu / seconds,
            "seconds": seconds,
        }
    finally:
        proxy.stop()
        engine.stop()
        shutil.rmtree(root, ignore_errors=True)


def peak_rss(path: Path, work: Path, all_bad: bool = False) -> dict[str, Any]:
    """Peak RSS of a fresh interpreter that parses + encodes + stages `path` (bench/rss.py); an all-bad object is
    read to its end (bad-line threshold 100 %), every line quarantined."""
    output = subprocess.run(  # noqa: S603 - our interpreter, our arguments
        [sys.executable, "-m", "bench.rss", str(path), str(work), data.object_key(99), "all-bad" if all_bad else ""],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(Path.cwd()))},
    ).stdout
    return orjson.loads(output.splitlines()[-1])  # type: ignore[no-any-return]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def per_entry(rate: float) -> str:
    return f"{1e6 / rate:.2f} us per entry"


def row(measure: str, value: str, compared: str = "", target: str = "", met: bool | None = None) -> list[str]:
    return [measure, value, compared, target, "" if met is None else ("yes" if met else "NO")]


def table(rows: list[list[str]]) -> str:
    header = ["measure", "value", "compared", "target", "met"]
    widths = [max(len(line[column]) for line in [header, *rows]) for column in range(len(header))]

    def render(line: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) + " |"

    return "\n".join([render(header), "|" + "|".join("-" * (width + 2) for width in widths) + "|", *map(render, rows)])


def shape_rows(shapes: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The parse + encode row of each fixed shape (bench/data.py) against its own floor B."""
    return [
        row(
            f"parse + encode, {shape} ({measured['mean_bytes']:,.0f} B each)",
            f"{measured['measured']:,.0f} entries/s",
            f"{measured['ratio']:.2f} x its floor B ({measured['base']:,.0f}/s); rounds {measured['low']:.2f}–"
            f"{measured['high']:.2f}",
            f">= {TARGETS['floor_b']:.2f}",
            measured["ratio"] >= TARGETS["floor_b"],
        )
        for shape, measured in shapes.items()
    ]


def main() -> None:
    if ONLY == "shapes":
        log(f"only the per-shape rows: {', '.join(data.SHAPES)}")
        shapes = {shape: shape_rates(shape) for shape in data.SHAPES}
        sys.stdout.write(
            f"{table(shape_rows(shapes))}\nmachine: {cpu_model()}, {SHAPE_ENTRIES:,} entries a shape, median of "
            f"{ROUNDS} rounds\n"
        )
        return
    work = Path(tempfile.mkdtemp(prefix="lyve-bench-"))
    moto, s3_url = start_moto()
    context = multiprocessing.get_context("spawn")
    try:
        log(f"generating {ENTRIES} S3 entries with include/lyve_audit/demo.py")
        lines = data.entry_lines(ENTRIES)
        mean_bytes = sum(map(len, lines)) / len(lines)
        body = data.gzip_object(lines)
        half = len(lines) // 2
        halves = [data.gzip_object(lines[:half]), data.gzip_object(lines[half:])]
        del lines

        log(f"floor B and parse + encode per fixed shape: {', '.join(data.SHAPES)}")
        shapes = {shape: shape_rates(shape) for shape in data.SHAPES}
        cli_path = work / data.object_key(0).rsplit("/", 1)[1]
        cli_path.write_bytes(shapes[data.SHAPES[0]]["body"])
        log("the encode command on the documented shape, in rounds with parse + encode")
        documented = shapes[data.SHAPES[0]]["body"]
        cli = in_rounds(
            lambda: ours(documented, SHAPE_ENTRIES), lambda: cli_encode(cli_path, SHAPE_ENTRIES), SHAPE_ENTRIES
        )
        for measured in shapes.values():
            del measured["body"]

        log("floors, parse + encode, naive")
        seconds_a, count_a = best_of(lambda: floor_a(body))
        seconds_b, count_b = best_of(lambda: floor_b(body))
        seconds_ours, count_ours = best_of(lambda: ours(body))
        seconds_naive, count_naive = timed(lambda: naive(body))  # 15+ times slower: one run says enough
        if not count_a == count_b == count_ours == count_naive == ENTRIES:
            raise RuntimeError("entry counts differ between measurements")
        rate_a, rate_b = ENTRIES / seconds_a, ENTRIES / seconds_b
        rate_ours, rate_naive = ENTRIES / seconds_ours, ENTRIES / seconds_naive
        encoded_bytes = [line.encode() for line in encoded(body)]
        mean_line = sum(map(len, encoded_bytes)) / len(encoded_bytes)

        s3 = e2e.moto_client(s3_url)
        s3.create_bucket(Bucket=S3_BUCKET)
        described = []
        for index, payload in enumerate([body, *halves]):
            key = data.object_key(index)
            s3.put_object(Bucket=S3_BUCKET, Key=key, Body=payload)
            described.append({"key": key, "size": len(payload), "last_modified": "2026-11-20T10:20:00+00:00"})
        with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
            for future in [pool.submit(e2e.warm_up) for _ in range(4)]:
                future.result()  # workers started and imports done before the clock runs
            sinks, ones = [], []
            for attempt in range(REPEATS):
                log(f"sink, then end to end (moto S3 → parse → stage → load → engine), {attempt + 1} of {REPEATS}")
                sinks.append(sink_rate(encoded_bytes))
                ones.append(end_to_end(pool, described[:1], s3_url, work / f"one-{attempt}"))
            del encoded_bytes
            sink_run, one = median_run(sinks), median_run(ones)
            log("end to end: two objects in two processes")
            two = end_to_end(pool, described[1:], s3_url, work / "two")

        log(f"peak RSS: generating a {BIG_BYTES / 1e9:.1f} GB object and one ten times smaller (streamed)")
        small_path, big_path = work / "small.gz", work / "big.gz"
        small_entries, small_bytes = data.write_big_object(small_path, BIG_BYTES // 10)
        big_entries, big_bytes = data.write_big_object(big_path, BIG_BYTES)
        small = peak_rss(small_path, work / "rss-small")
        big = peak_rss(big_path, work / "rss-big")
        if small["points"] != small_entries or big["points"] != big_entries:
            raise RuntimeError("RSS runs lost entries")
        big_path.unlink()
        log(f"peak RSS: a {BIG_BYTES / 1e9:.1f} GB object of bad lines only, every line quarantined")
        bad_path = work / "bad.gz"
        bad_lines, bad_bytes = data.write_bad_object(bad_path, BIG_BYTES)
        bad = peak_rss(bad_path, work / "rss-bad", all_bad=True)
        if bad["bad"] != bad_lines or bad["points"] != 0:
            raise RuntimeError(f"the all-bad RSS run counted {bad['bad']} bad of {bad_lines} lines")
    finally:
        moto.terminate()
        moto.wait(timeout=15)
        shutil.rmtree(work, ignore_errors=True)

    ratio_b = rate_ours / rate_b
    speedup = rate_ours / rate_naive
    sink = sink_run["rate"]
    ratio_sink = one["rate"] / sink
    ratio_rss = big["peak_rss_mb"] / small["peak_rss_mb"]
    growth_bytes = (big["peak_rss_mb"] - small["peak_rss_mb"]) * (1 << 20) / (big_entries - small_entries)
    rows = [
        row(
            "data",
            f"{ENTRIES:,} S3 entries, {mean_bytes:,.0f} B each",
            f"the demo's mix of shapes; object {len(body) / 1e6:.1f} MB gzip'd",
        ),
        row("floor A: gunzip + split lines", f"{rate_a:,.0f} entries/s", per_entry(rate_a)),
        row("floor B: gunzip + orjson.loads per line", f"{rate_b:,.0f} entries/s", per_entry(rate_b)),
        row("parse + encode (line_batches + encode_lines)", f"{rate_ours:,.0f} entries/s", f"{ratio_b:.2f} x floor B"),
        *shape_rows(shapes),
        row(
            f"encode command, {data.SHAPES[0]}, to /dev/null",
            f"{cli['measured']:,.0f} entries/s",
            f"{cli['ratio']:.2f} x its parse + encode; rounds {cli['low']:.2f}–{cli['high']:.2f}",
            f">= {TARGETS['cli']:.2f}",
            cli["ratio"] >= TARGETS["cli"],
        ),
        row(
            "naive: flatten + Point.from_dict + to_line_protocol",
            f"{rate_naive:,.0f} entries/s",
            per_entry(rate_naive),
        ),
        row(
            "speed-up over naive",
            f"{speedup:.1f} x",
            "",
            f">= {TARGETS['naive']:.0f} x",
            speedup >= TARGETS["naive"],
        ),
        row(
            f"sink: engine accepts pre-gzip'd 4 MiB batches, median of {REPEATS}",
            f"{sink:,.0f} entries/s",
            f"line {mean_line:,.0f} B; engine {sink_run['cores']:.2f} cores; {spread(sinks)}",
        ),
        row(
            f"end to end, 1 object (S3→parse→stage→load→engine), median of {REPEATS}",
            f"{one['rate']:,.0f} entries/s",
            f"{ratio_sink:.2f} x sink; {spread(ones)}",
            f">= {TARGETS['sink']:.2f}",
            ratio_sink >= TARGETS["sink"],
        ),
        row(
            "  of which parse+stage / load",
            f"{one['parse_s']:.1f} s / {one['load_s']:.1f} s",
            f"{one['cores']:.2f} cores busy (workers+proxy+engine)",
        ),
        row(
            "  points read back from the engine",
            f"{one['read_back']:,}",
            f"of {one['entries']:,} entries",
            "equal",
            one["read_back"] == one["entries"],
        ),
        row(
            "end to end, 2 objects in 2 processes",
            f"{two['rate']:,.0f} entries/s",
            f"{two['rate'] / one['rate']:.2f} x 1 object; {two['cores']:.2f} cores busy",
            "",
            None,
        ),
        row(
            "  points read back from the engine",
            f"{two['read_back']:,}",
            f"of {two['entries']:,} entries",
            "equal",
            two["read_back"] == two["entries"],
        ),
        row(
            f"peak RSS, small object ({small_bytes / 1e6:,.0f} MB, {small_entries:,} entries)",
            f"{small['peak_rss_mb']:.1f} MB",
            f"{small_entries / small['s']:,.0f} entries/s parse+stage",
        ),
        row(
            f"peak RSS, big object ({big_bytes / 1e6:,.0f} MB, {big_entries:,} entries)",
            f"{big['peak_rss_mb']:.1f} MB",
            f"{ratio_rss:.2f} x small: +{growth_bytes:.0f} B an entry",
            f"< {TARGETS['rss_mb']:.0f} MB",
            big["peak_rss_mb"] < TARGETS["rss_mb"],
        ),
        row(
            f"peak RSS, all-bad object ({bad_bytes / 1e6:,.0f} MB, {bad_lines:,} lines, all quarantined)",
            f"{bad['peak_rss_mb']:.1f} MB",
            f"{bad_lines / bad['s']:,.0f} lines/s",
            f"< {TARGETS['rss_mb']:.0f} MB",
            bad["peak_rss_mb"] < TARGETS["rss_mb"],
        ),
    ]
    log("LIST requests per run for a month-end folder")
    listing = list_requests_per_run()
    rows.append(
        row(
            f"LIST requests, run of a month's last hour ({listing['keys']:,} keys, {listing['prefixes']} prefixes)",
            f"{listing['by_prefix']:,} by known prefix",
            f"{listing['whole']:,} listing the folder whole (before)",
        )
    )
    if CATCH_UP_HOURS:
        log(f"catch-up of {CATCH_UP_HOURS} hours under the real scheduler, two ways")
        catch_up_moto, catch_up_url = start_moto()
        try:
            catch_up = catch_up_rows(catch_up_url, CATCH_UP_HOURS)
        finally:
            catch_up_moto.terminate()
            catch_up_moto.wait(timeout=15)
        rows.extend(row(*line) for line in table_rows(catch_up, CATCH_UP_HOURS))
    machine = f"machine: {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}, "
    machine += f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    text = table(rows) + "\n" + machine + "\n"
    sys.stdout.write(text)
    if os.environ.get("BENCH_WRITE_DOC", "1") == "1":
        write_into_doc(text)
        log(f"table written into {PERFORMANCE_DOC}")


if __name__ == "__main__":
    main()
