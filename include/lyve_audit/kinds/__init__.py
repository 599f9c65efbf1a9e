"""One module per log kind, each the same shape: `MEASUREMENT` and `line_parts(raw, include_message) -> Parts`.

`values` holds what the kinds share (value conversions, the `Parts` shape, reading a line as a dict);
`include/lyve_audit/schema.py` maps each kind to its module.
"""
