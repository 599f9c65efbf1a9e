"""Escaping, times and durations, asserted as exact strings and integers."""

from __future__ import annotations

import pytest

from include.lyve_audit.caching import BoundedCache
from include.lyve_audit.lineproto import (
    escape_field_string,
    escape_tag_value,
    host_without_port,
    parse_duration_ns,
    parse_time_ns,
    tag_set,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("plain", "plain", id="plain"),
        pytest.param("a b", "a\\ b", id="space"),
        pytest.param("a,b", "a\\,b", id="comma"),
        pytest.param("a=b", "a\\=b", id="equals"),
        pytest.param('say "hi"', 'say\\ "hi"', id="quotes-stay"),
        pytest.param("x\naudit-01,b=evil", "x\u2424audit-01\\,b\\=evil", id="forged-line"),
        pytest.param("cr\rlf", "cr\u240dlf", id="carriage-return"),
        pytest.param("ends\\", "ends\u29f5", id="trailing-backslash"),
        pytest.param("a\\,b", "a\u29f5\\,b", id="backslash-before-comma"),
        pytest.param("DOMAIN\\user", "DOMAIN\\user", id="inner-backslash-kept"),
        pytest.param("a\\\\b", "a\\\\b", id="double-backslash-kept"),
    ],
)
def test_escape_tag_value(value: str, expected: str) -> None:
    assert escape_tag_value(value) == expected


def test_tag_set_leaves_out_empty_values() -> None:
    assert tag_set([("a", "1"), ("b", ""), ("c", "x y")]) == ",a=1,c=x\\ y"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("plain", '"plain"', id="plain"),
        pytest.param('q"x', '"q\\"x"', id="quote"),
        pytest.param("back\\", '"back\\\\"', id="trailing-backslash"),
        pytest.param("a\nb", '"a\nb"', id="newline-kept-inside-quotes"),
        pytest.param("a, b=c", '"a, b=c"', id="separators-need-nothing"),
    ],
)
def test_escape_field_string(value: str, expected: str) -> None:
    assert escape_field_string(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2021-01-22T10:49:30.699378337Z", 1611312570_699378337, id="rfc3339-ns"),
        pytest.param("2021-01-22T10:49:30Z", 1611312570_000000000, id="no-fraction"),
        pytest.param("2021-01-22T10:49:30.5Z", 1611312570_500000000, id="short-fraction"),
        pytest.param("2021-01-22T12:49:30.699378337+02:00", 1611312570_699378337, id="offset"),
        pytest.param("2022-02-28 21:35:08.123456 +0000 UTC", 1646084108_123456000, id="go-format"),
        pytest.param("2022-02-28 22:35:08 +0100 CET", 1646084108_000000000, id="go-format-offset"),
        pytest.param("2022-02-28 21:35:08", 1646084108_000000000, id="naive-is-utc"),
        pytest.param("1970-01-01T00:00:00Z", 0, id="epoch"),
    ],
)
def test_parse_time_ns(text: str, expected: int) -> None:
    assert parse_time_ns(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2021-13-22T10:49:30Z", id="month-13"),
        pytest.param("0000-01-22T10:49:30Z", id="year-0"),
        pytest.param("2021-02-30T10:49:30Z", id="february-30"),
        pytest.param("2021-01-22T24:49:30Z", id="hour-24"),
        pytest.param("yesterday", id="words"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="time"):
        parse_time_ns(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2246401314ns", 2246401314, id="ns-string"),
        pytest.param("0ns", 0, id="zero"),
        pytest.param("1.5s", 1_500_000_000, id="seconds"),
        pytest.param("120ms", 120_000_000, id="ms"),
        pytest.param("3µs", 3_000, id="micro-sign"),
        pytest.param("1m2.5s", 62_500_000_000, id="compound"),
        pytest.param(2246401314, 2246401314, id="integer-ns"),
    ],
)
def test_parse_duration_ns(value: object, expected: int) -> None:
    assert parse_duration_ns(value) == expected


@pytest.mark.parametrize("value", ["abc", "-5ns", -5, "5", "", None, True, "12ns junk"])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_ns(value)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.1.2.3:51512", "10.1.2.3"),
        ("10.1.2.3", "10.1.2.3"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("", ""),
    ],
)
def test_host_without_port(address: str, expected: str) -> None:
    assert host_without_port(address) == expected


def test_bounded_cache_computes_each_key_once_and_holds_at_most_its_limit() -> None:
    computed: list[str] = []

    def upper(text: str) -> str:
        computed.append(text)
        return text.upper()

    cache: BoundedCache[str, str] = BoundedCache(upper, limit=2)
    assert [cache["a"], cache["a"], cache["b"]] == ["A", "A", "B"]
    assert computed == ["a", "b"]
    assert cache["c"] == "C"  # full: emptied, then "c" remembered
    assert dict(cache) == {"c": "C"}
    assert [cache["a"], cache["c"]] == ["A", "C"]
    assert computed == ["a", "b", "c", "a"]
