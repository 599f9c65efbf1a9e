"""IAM audit entries → `iam-01`: time `date`; tags `bucket_name`, `content.client_name`, `content.hostname`,
`content.ip` (port dropped), `content.user_name`, `organization`, `source`; fields `created_date` and `action`
(`content.action`, else `action`)."""

from __future__ import annotations

from typing import Any

from include.lyve_audit.kinds import values
from include.lyve_audit.kinds.values import Parts
from include.lyve_audit.lineproto import host_without_port, tag_set

MEASUREMENT = "iam-01"


def entry_parts(entry: dict[str, Any], raw: str, include_message: bool) -> Parts:
    """An IAM audit entry → `iam-01` parts (the `content.*` tags the old system always left empty are filled)."""
    content = values.as_object(entry, "content")
    time_ns = values.as_epoch_or_time_ns("date", entry.get("date"))
    tags = tag_set(
        [
            ("bucket_name", values.as_text(entry.get("bucket_name"))),
            ("content.client_name", values.as_text(content.get("client_name"))),
            ("content.hostname", values.as_text(content.get("hostname"))),
            ("content.ip", host_without_port(values.as_text(content.get("ip")))),
            ("content.user_name", values.as_text(content.get("user_name"))),
            ("organization", values.as_text(entry.get("organization"))),
            ("source", values.as_text(entry.get("source"))),
        ]
    )
    fields = values.base_fields(raw, include_message)
    values.add_string_field(fields, "created_date", entry.get("created_date"))
    # The IAM action (CreateAccessKey, AttachPolicy…) as a field: a tag would change the series of existing points.
    values.add_string_field(fields, "action", content.get("action") or entry.get("action"))
    return MEASUREMENT + tags, ",".join(fields), time_ns


line_parts = values.dict_line_parts(entry_parts)
