"""Settings back to TOML, so a session's validated settings can travel to another process."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_value(item, where) for item in value) + "]"
    raise TypeError(f"{where}: {type(value).__name__} has no TOML form here")


def to_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """Tables of scalars, lists and sub-tables; None (unset) is left out, as TOML has no null."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            tables.append((f"{prefix}{key}", value))
        else:
            lines.append(f"{key} = {_value(value, prefix + key)}")
    out = "\n".join(lines)
    for name, table in tables:
        body = to_toml(table, f"{name}.")
        out += f"\n\n[{name}]\n{body}" if body.strip() else f"\n\n[{name}]"
    return out.strip() + "\n"
