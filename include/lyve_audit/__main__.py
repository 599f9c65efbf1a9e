"""Command line: `generate` demo logs in the real key layout, `encode` one object to line protocol.

python -m include.lyve_audit generate --out DIR --start 2026-01-10T00:00:00Z --hours 3 [--seed 1]
python -m include.lyve_audit encode FILE [--no-message] > points.lp
python -m include.lyve_audit grafana [--out grafana]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import orjson

from include.lyve_audit.background import quick_handoffs
from include.lyve_audit.demo import GeneratedObject, generate, write_objects
from include.lyve_audit.encode import ObjectCounts, QuarantinedLine, encode_lines
from include.lyve_audit.keys import parse_log_key
from include.lyve_audit.parse import ObjectReadError, line_batches

WRITE_BLOCK_LINES = 1024


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _kind_of(path: Path) -> str:
    """The log kind from a file's name (the month folder is optional here)."""
    for candidate in (f"{path.parent.name}/{path.name}", f"January-2000/{path.name}"):
        log_key = parse_log_key(candidate)
        if log_key is not None:
            return log_key.kind
    raise SystemExit(f"{path}: name is not an audit-log key (<Kind>-…-<yyyy-MM-dd-HH-mm-ss>.gz)")


def run_generate(args: argparse.Namespace) -> int:
    objects: Iterable[GeneratedObject] = generate(_utc(args.start), args.hours, args.seed, args.s3_entries)
    if args.incidents and args.hours > 0:
        from include.lyve_audit.incidents import incident_objects

        last_hour = _utc(args.start).replace(minute=0, second=0, microsecond=0) + timedelta(hours=args.hours - 1)
        objects = itertools.chain(objects, incident_objects(last_hour, args.seed))
    totals = write_objects(iter(objects), Path(args.out))
    print(orjson.dumps(totals).decode())
    return 0


def run_encode(args: argparse.Namespace) -> int:
    path = Path(args.file)
    kind = _kind_of(path)
    counts = ObjectCounts()

    def report(record: QuarantinedLine) -> None:
        print(f"{record.object_key}:{record.line}: {record.reason}", file=sys.stderr)

    out = sys.stdout.buffer
    try:
        with path.open("rb") as stream, quick_handoffs():
            lines = encode_lines(line_batches(stream, str(path)), kind, str(path), counts, report, not args.no_message)
            while block := list(islice(lines, WRITE_BLOCK_LINES)):  # large writes: one per ~2 MB, not one per line
                block.append("")
                out.write("\n".join(block).encode())
        out.flush()
    except ObjectReadError as error:
        print(str(error), file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader (e.g. `head`) has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    print(orjson.dumps(counts.as_dict()).decode(), file=sys.stderr)
    return 1 if counts.bad else 0


def run_grafana(args: argparse.Namespace) -> int:
    from include.lyve_audit.grafana_security import write_files

    for path in write_files(Path(args.out)):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.lyve_audit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write realistic audit logs of all kinds in the key layout")
    gen.add_argument("--out", required=True, help="folder to write <Month-YYYY>/<Kind>-…gz under")
    gen.add_argument("--start", required=True, help="first hour, ISO 8601 (UTC if no offset)")
    gen.add_argument("--hours", type=int, required=True, help="number of consecutive hours")
    gen.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    gen.add_argument("--s3-entries", type=int, default=40, help="entries per S3 object")
    gen.add_argument(
        "--incidents", action="store_true", help="inject the security incidents into the last hour (docs/security.md)"
    )
    gen.set_defaults(run=run_generate)
    enc = commands.add_parser("encode", help="print an object's line protocol (bad lines to stderr)")
    enc.add_argument("file", help="a .gz audit-log object, named as in the bucket")
    enc.add_argument("--no-message", action="store_true", help="leave out the `message` field")
    enc.set_defaults(run=run_encode)
    graf = commands.add_parser("grafana", help="write the security dashboard and alert rules (LYVE_ALERT_* override)")
    graf.add_argument("--out", default="grafana", help="the grafana/ folder to write into")
    graf.set_defaults(run=run_grafana)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
