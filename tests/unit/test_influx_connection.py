"""An Airflow connection's fields → InfluxDB target: the product's `lyve_influxdb` type and the `influxdb` one."""

from __future__ import annotations

import pytest

from include.lyve_audit.errors import DestinationError
from include.lyve_audit.influx import ConnectionFields, InfluxTarget, target_from_connection


@pytest.mark.parametrize(
    ("fields", "variable", "expected"),
    [
        pytest.param(
            ConnectionFields("influxdb", "influx", 8086, "http", extra={"token": "t0k", "org": "acme"}),
            "audit",
            InfluxTarget("http://influx:8086", "acme", "audit", "t0k", api_version=None),
            id="influxdb-type-token-in-extra",
        ),
        pytest.param(
            ConnectionFields("influxdb", "influx", None, "https", login="acme", password="t0k"),
            "audit",
            InfluxTarget("https://influx:8086", "acme", "audit", "t0k", api_version=None),
            id="influxdb-type-org-as-login-token-as-password",
        ),
        pytest.param(
            ConnectionFields(
                "lyve_influxdb",
                "https://influx.example.com:8181",
                password="t0k",
                extra={"bucket": "from-connection", "org": "acme", "api_version": "2"},
            ),
            None,
            InfluxTarget("https://influx.example.com:8181", "acme", "from-connection", "t0k", api_version=2),
            id="own-type-url-token-bucket",
        ),
        pytest.param(
            ConnectionFields(
                "lyve_influxdb",
                "http://127.0.0.1:8086",
                login="lyve",
                password="pw",
                extra={"bucket": "from-connection", "api_version": "1", "retention_policy": "autogen"},
            ),
            "from-variable",
            InfluxTarget(
                "http://127.0.0.1:8086",
                "",
                "from-variable",
                "",
                api_version=1,
                username="lyve",
                password="pw",
                retention_policy="autogen",
            ),
            id="own-type-1x-user-password-variable-wins",
        ),
        pytest.param(
            ConnectionFields(
                "lyve_influxdb",
                "localhost",
                8087,
                password="t0k",
                extra={"extra__lyve_influxdb__database": "db", "extra__lyve_influxdb__api_version": "auto"},
            ),
            "",
            InfluxTarget("http://localhost:8087", "", "db", "t0k", api_version=None),
            id="prefixed-form-extras",
        ),
    ],
)
def test_connection_fields_make_the_target(
    fields: ConnectionFields, variable: str | None, expected: InfluxTarget
) -> None:
    assert target_from_connection(fields, variable) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(ConnectionFields("lyve_influxdb", "h", password="t"), "no InfluxDB bucket", id="no-bucket"),
        pytest.param(
            ConnectionFields("lyve_influxdb", "h", extra={"bucket": "b", "api_version": "4"}),
            "api_version must be 1, 2 or auto",
            id="bad-version",
        ),
    ],
)
def test_unusable_connections_say_what_to_fix(fields: ConnectionFields, message: str) -> None:
    with pytest.raises(DestinationError, match=message):
        target_from_connection(fields, None)
