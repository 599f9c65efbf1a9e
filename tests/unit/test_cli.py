"""The command line: `generate` writes the real key layout deterministically, `encode` prints one object's points."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from include.lyve_audit.__main__ import main
from include.lyve_audit.keys import parse_log_key


def test_generate_writes_every_kind_in_the_key_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--out", str(tmp_path / "a"), "--start", "2026-01-31T23:00:00Z", "--hours", "2"]) == 0
    totals = orjson.loads(capsys.readouterr().out)
    keys = sorted(path.relative_to(tmp_path / "a").as_posix() for path in (tmp_path / "a").rglob("*.gz"))
    assert len(keys) == 2 * (9 + 2)
    parsed = [parse_log_key(key) for key in keys]
    assert all(parsed)
    assert {log_key.kind for log_key in parsed if log_key} == {"s3", "iam", "console"}
    assert {key.split("/")[0] for key in keys} == {"January-2026", "February-2026"}
    lines = {
        kind: sum(
            len(gzip.decompress(path.read_bytes()).splitlines())
            for path in (tmp_path / "a").rglob("*.gz")
            if parse_log_key(path.relative_to(tmp_path / "a").as_posix()).kind == kind  # type: ignore[union-attr]
        )
        for kind in ("s3", "iam", "console")
    }
    assert totals == lines
    assert lines["s3"] == 2 * 9 * 40


def test_generate_is_a_function_of_the_seed(tmp_path: Path) -> None:
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        main(
            [
                "generate",
                "--out",
                str(tmp_path / name),
                "--start",
                "2026-01-10T05:30:00Z",
                "--hours",
                "1",
                "--seed",
                seed,
            ]
        )
    files = {name: {path.name: path.read_bytes() for path in (tmp_path / name).rglob("*.gz")} for name in "abc"}
    assert files["a"] == files["b"]
    assert files["a"] != files["c"]
    assert min(files["a"]) == "IAM-2026-01-10-05-59-30.gz"


def test_encode_prints_one_line_per_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["generate", "--out", str(tmp_path), "--start", "2026-01-10T05:00:00Z", "--hours", "1", "--s3-entries", "7"])
    capsys.readouterr()
    path = next(tmp_path.rglob("S3-media-assets-*.gz"))
    assert main(["encode", str(path), "--no-message"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 7
    assert all(line.startswith("audit-01,auditEntry.api.bucket=media-assets,") for line in lines)
    assert "message=" not in out
    assert orjson.loads(err) == {"entries": 7, "points": 7, "bad": 0, "duplicates": 0, "moved": 0}


def test_encode_reports_bad_lines_with_their_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "IAM-2026-01-10-05-59-30.gz"
    path.write_bytes(gzip.compress(b'{"date": "2026-01-10T05:00:00Z"}\n\n[1]\n'))
    assert main(["encode", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("iam-01 entry_bytes=32i,message=")
    assert f"{path}:3: JSON list, not an object" in err


def test_encode_refuses_a_name_that_is_not_a_log_key(tmp_path: Path) -> None:
    path = tmp_path / "notes.gz"
    path.write_bytes(gzip.compress(b"{}"))
    with pytest.raises(SystemExit, match="not an audit-log key"):
        main(["encode", str(path)])


def test_generate_with_incidents_adds_them_to_the_last_hour(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["generate", "--start", "2026-01-31T22:00:00Z", "--hours", "2"]
    main([*args, "--out", str(tmp_path / "plain")])
    main([*args, "--out", str(tmp_path / "incidents"), "--incidents"])
    plain = {path.relative_to(tmp_path / "plain").as_posix() for path in (tmp_path / "plain").rglob("*.gz")}
    both = {path.relative_to(tmp_path / "incidents").as_posix() for path in (tmp_path / "incidents").rglob("*.gz")}
    added = sorted(both - plain)
    assert plain < both and len(added) == 8
    for key in added:  # the incident objects are audit-log keys stamped inside the last hour
        log_key = parse_log_key(key)
        assert log_key is not None and log_key.timestamp.strftime("%Y-%m-%dT%H") == "2026-01-31T23", key
    for key in plain:  # ordinary objects are byte for byte those of a run without incidents
        assert (tmp_path / "plain" / key).read_bytes() == (tmp_path / "incidents" / key).read_bytes()
    bad = [key for key in added if b"{not json" in gzip.decompress((tmp_path / "incidents" / key).read_bytes())]
    assert len(bad) == 1 and "/IAM-" in bad[0]
