"""Participant-supplied text (display names, transcript, chat) made safe to put into Markdown or HTML.

A display name is whatever a participant typed into the call page, and a transcript says
whatever was said. Put raw into a note, "Bob\\n# Diagnosis" starts a heading of its own,
"[verify](https://evil.example)" becomes a link, "<img src=x>" becomes markup, and a
U+202E RIGHT-TO-LEFT OVERRIDE in a name reverses the rest of its line, so what a clinician
reads is not what was said. The same neutralising is used for both formats:

* line breaks, tabs and other control characters become one space (no new lines, no
  new blocks), and runs of whitespace collapse to one space;
* bidi controls (embeddings, overrides, isolates, LRM/RLM/ALM) are removed; the letters
  of a right-to-left name keep their natural direction without them.

Zero-width joiners are kept: scripts such as Persian and Devanagari need them.
"""

from __future__ import annotations

import html
import re
import unicodedata

_BIDI_CONTROLS = frozenset(
    "\u061c"  # ARABIC LETTER MARK
    "\u200e\u200f"  # LEFT-TO-RIGHT / RIGHT-TO-LEFT MARK
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings, pop, overrides
    "\u2066\u2067\u2068\u2069"  # isolates
)
_BREAKS = frozenset("\u0085\u2028\u2029")  # NEL, LINE / PARAGRAPH SEPARATOR: line breaks to some renderers

# Backslash-escaped wherever they appear: each can open emphasis, code, a link or image, raw HTML,
# an entity (&#x202e; would bring the override back), a table cell, strikethrough or an attribute list.
_INLINE = re.compile(r"([\\`*_\[\]<>&|~{}])")
# Only at the start of the text, where Markdown reads them as a block (heading, list item, or a
# numbered item: "1." / "1)"); elsewhere in a line they are plain characters. `>` and `*` are above.
_LEADING_MARKER = re.compile(r"^([#+-])")
_LEADING_NUMBER = re.compile(r"^(\d{1,9})([.)])")
# A heading drops a closing run of `#` ("## Bob #" shows "Bob"): escaping its first keeps them.
_TRAILING_HASHES = re.compile(r"(?<=\s)#(#*)$")


def plain_text(text: str) -> str:
    """`text` on one line: control characters and line breaks as spaces, bidi controls removed."""
    kept = []
    for char in text:
        if char in _BIDI_CONTROLS:
            continue
        if char in _BREAKS or unicodedata.category(char) == "Cc":
            kept.append(" ")
        else:
            kept.append(char)
    return " ".join("".join(kept).split())


def markdown_inline(text: str) -> str:
    """`text` as literal inline Markdown (CommonMark/GFM): one line, no markup of its own, reads as typed."""
    escaped = _INLINE.sub(r"\\\1", plain_text(text))
    escaped = _LEADING_NUMBER.sub(r"\1\\\2", escaped, count=1)  # "1. x": escape the dot, not the digits
    escaped = _TRAILING_HASHES.sub(r"\\#\1", escaped, count=1)
    return _LEADING_MARKER.sub(r"\\\1", escaped, count=1)


def html_text(text: str) -> str:
    """`text` as HTML text or a quoted attribute value: one line, no markup of its own."""
    return html.escape(plain_text(text), quote=True)
