"""Console audit entries → `console-01`: time `ConsoleEvent.EventTime`; tags `ConsoleEvent.Eventname`,
`UserIdentity.IPAddress` (port dropped), `UserIdentity.Role`, `UserIdentity.UserName`; fields `StatusCode`,
`ConsoleEvent.Status`, `UserIdentity.EventSource`."""

from __future__ import annotations

from typing import Any

from include.lyve_audit.kinds import values
from include.lyve_audit.kinds.values import Parts
from include.lyve_audit.lineproto import host_without_port, tag_set

MEASUREMENT = "console-01"


def entry_parts(entry: dict[str, Any], raw: str, include_message: bool) -> Parts:
    """A Console audit entry → `console-01` parts."""
    identity = values.as_object(entry, "UserIdentity")
    event = values.as_object(entry, "ConsoleEvent")
    time_ns = values.as_time_ns("ConsoleEvent.EventTime", event.get("EventTime"))
    tags = tag_set(
        [
            ("ConsoleEvent.Eventname", values.as_text(event.get("Eventname"))),
            ("UserIdentity.IPAddress", host_without_port(values.as_text(identity.get("IPAddress")))),
            ("UserIdentity.Role", values.as_text(identity.get("Role"))),
            ("UserIdentity.UserName", values.as_text(identity.get("UserName"))),
        ]
    )
    fields = values.base_fields(raw, include_message)
    if event.get("StatusCode") is not None:
        fields.append(f"StatusCode={values.as_integer('ConsoleEvent.StatusCode', event['StatusCode'])}i")
    values.add_string_field(fields, "ConsoleEvent.Status", event.get("Status"))
    values.add_string_field(fields, "UserIdentity.EventSource", identity.get("EventSource"))
    return MEASUREMENT + tags, ",".join(fields), time_ns


line_parts = values.dict_line_parts(entry_parts)
