"""Small Markdown helpers shared by the generated parts of the docs."""

from __future__ import annotations

import re
from collections.abc import Callable

_CODE_SPAN = re.compile(r"(`[^`]*`)")
_URL = re.compile(r"https?://[^\s`<>]*[^\s`<>.,;:)]")


def _outside_code(text: str, change: Callable[[str], str]) -> str:
    parts = _CODE_SPAN.split(text)
    return "".join(change(part) if i % 2 == 0 else part for i, part in enumerate(parts))


def _escape(plain: str) -> str:
    return plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("*", r"\*")


def cell(text: str) -> str:
    """`text` as one table cell: one line, pipes escaped, read alike by GitHub and MkDocs (angle
    brackets shown rather than taken for HTML; URLs as code, so that no renderer makes them links)."""
    text = " ".join(text.split())
    text = _outside_code(text, lambda plain: _URL.sub(lambda match: f"`{match.group(0)}`", plain))
    return _outside_code(text, _escape).replace("|", r"\|")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
