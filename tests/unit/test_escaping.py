"""Participant-supplied text (display names, what was said) cannot add markup to a note.

Hostile names and transcript text go through the real generator and the real renderers;
the Markdown is then parsed by a CommonMark parser (markdown-it-py, what `rich` renders
with) and the HTML by the standard library's parser, so the checks are on what a viewer
would show, not on string patterns alone.
"""

from __future__ import annotations

from dataclasses import fields
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.consent.audit import Objection
from bot.escape import html_text, markdown_inline, plain_text
from bot.notes.base import Note, SessionFacts
from bot.notes.html import to_html
from bot.notes.render import to_markdown
from bot.notes.simple import SimpleNoteGenerator
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.segment import Participant

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"

HOSTILE_NAMES = {
    "p1": "Dr. *Star* [link](x)",
    "p2": "<script>alert(1)</script>",
    "p3": "Eve\n# Diagnosis: none\r\n- [ ] done",
    "p4": "\u202eevil\u200f Mallory",
    "p5": "1. Trudy ![img](http://evil.example/p.png) &#x202e; `code` | cell | ~~gone~~",
}
HOSTILE_TEXT = ("I said [click here](http://evil.example) and <img src=x onerror=alert(1)> ok\n## Plan\n"
                "> quoted **bold** _it_ \u202ereversed\u200f")


def readable(text: str) -> str:
    """What a person should still be able to read: the text without controls, on one line."""
    return " ".join("".join(" " if c in "\r\n\t" else c for c in text if c not in BIDI).split())


def hostile_note() -> Note:
    buffer = TranscriptBuffer("s1")
    participants = [Participant(pid, name, "client" if pid == "p2" else None) for pid, name in HOSTILE_NAMES.items()]
    for i, participant in enumerate(participants):
        buffer.append(participant, 10.0 * i, 10.0 * i + 3, HOSTILE_TEXT, "en", 0.9)
    facts = SessionFacts("s1", "2026-11-23T10:00:00+00:00", 60.0, "en", tuple(
        {"id": p.id, "display_name": p.display_name, "role": p.role} for p in participants))
    return SimpleNoteGenerator().generate(buffer.segments(), facts)


def _walk(tokens: list[Token]) -> list[Token]:
    flat: list[Token] = []
    for token in tokens:
        flat.append(token)
        flat += _walk(token.children or [])
    return flat


def test_hostile_names_and_text_stay_text_in_the_markdown_note() -> None:
    note = hostile_note()
    source = to_markdown(note, include_transcript=True)
    tokens = _walk(MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(source))
    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(source)

    assert not set(BIDI) & set(source)
    # The only raw HTML is the renderer's own transcript anchors; no script, no img, no table.
    raw_html = {t.content for t in tokens if t.type in {"html_inline", "html_block"}}
    assert raw_html == {f'<a id="{s.id}">' for s in note.transcript} | {"</a>"}
    assert "<script" not in rendered and "<img" not in rendered and "<table" not in rendered
    assert "<del>" not in rendered and "<s>" not in rendered
    # Links: only the citations, each to a transcript anchor that exists.
    hrefs = [t.attrs["href"] for t in tokens if t.type == "link_open"]
    assert hrefs and all(h in {f"#{s.id}" for s in note.transcript} for h in hrefs)
    assert not [t for t in tokens if t.type in {"image", "em_open", "s_open"}]
    assert [t.content for t in tokens if t.type == "code_inline"] == [note.facts.session_id]  # the name's `code` is text
    # Headings: the title, "Session", one per section, "Transcript": none from a name or what was said.
    headings = [t for t in tokens if t.type == "heading_open"]
    assert len(headings) == 3 + len(note.sections)
    assert not [line for line in source.splitlines() if line.startswith(("# Diagnosis", "## Plan", "> quoted"))]
    # Emphasis only where the renderer puts it: the banner, the segment ids (the name's ** are text).
    assert sum(t.type == "strong_open" for t in tokens) == 1 + len(note.transcript)


def test_the_names_and_words_survive_readable_in_the_markdown_note() -> None:
    source = to_markdown(hostile_note(), include_transcript=True)
    tokens = _walk(MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(source))
    shown = " ".join(t.content for t in tokens if t.type == "text")
    for name in HOSTILE_NAMES.values():
        assert readable(name) in shown
    assert readable(HOSTILE_TEXT) in shown


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_hostile_names_and_text_stay_text_in_the_html_note() -> None:
    note = hostile_note()
    page = to_html(note, include_transcript=True)
    parsed = _Page()
    parsed.feed(page)
    assert not set(BIDI) & set(page)
    tags = {tag for tag, _ in parsed.tags}
    assert tags <= {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "p", "ul", "ol", "li",
                    "section", "span", "code", "a"}
    assert not [attrs for _, attrs in parsed.tags if any(k.startswith("on") or k == "src" for k in attrs)]
    ids = {attrs["id"] for tag, attrs in parsed.tags if tag == "li" and "id" in attrs}
    hrefs = [attrs["href"] for tag, attrs in parsed.tags if tag == "a"]
    assert hrefs and all(h is not None and h[1:] in ids for h in hrefs)  # every citation still jumps to its line
    shown = " ".join("".join(parsed.text).split())
    for name in HOSTILE_NAMES.values():
        assert readable(name) in shown
    assert readable(HOSTILE_TEXT) in shown


@pytest.mark.parametrize(("text", "escaped"), [
    ("*bold* _it_", r"\*bold\* \_it\_"),
    ("[link](x)", r"\[link\](x)"),
    ("<script>alert(1)</script>", r"\<script\>alert(1)\</script\>"),
    ("Bob\n# Heading", "Bob # Heading"),
    ("# Heading", r"\# Heading"),
    ("- item", r"\- item"),
    ("+ item", r"\+ item"),
    ("12. item", r"12\. item"),
    ("3) item", r"3\) item"),
    ("Bob #", r"Bob \#"),
    ("a\\b `c` |d| ~e~ {f} &amp;", r"a\\b \`c\` \|d\| \~e\~ \{f\} \&amp;"),
    ("\u202eevil\u200f\u2066x\u2069", "evilx"),
    ("Mary-Jane O'Neil (mum) #1!", "Mary-Jane O'Neil (mum) #1!"),  # ordinary names stay as typed
    ("  two\t\tspaces\x00\x1b[31m  ", r"two spaces \[31m"),
    ("Zoë \u0645\u0631\u064a\u0645 \u0928\u092e\u0938\u094d\u200d\u0924\u0947", "Zoë مريم नमस्\u200dते"),  # ZWJ kept
])
def test_markdown_inline(text: str, escaped: str) -> None:
    assert markdown_inline(text) == escaped


def test_html_text_escapes_markup_and_quotes_and_drops_controls() -> None:
    assert html_text('<b x="1">\u202eA&B\u2028C</b>') == "&lt;b x=&quot;1&quot;&gt;A&amp;B C&lt;/b&gt;"
    assert plain_text("line one\u2029line two\x85three") == "line one line two three"


def test_the_objection_record_line_cannot_be_hijacked_by_the_name() -> None:
    """session.py writes `- {objection.summary(...)}` into <stem>.objection.md; through markdown_inline the
    objector's name cannot add a heading, a link or markup to that record."""
    values = {"participant_id": "p9", "display_name": "Eve](http://evil.example)\n# Consent given\n<b>", "role": None,
              "source": "speech", "at_s": 5.0, "at_utc": "2026-11-23T10:00:05+00:00", "language": "en"}
    objection = Objection(**{f.name: values[f.name] for f in fields(Objection) if f.name in values})
    line = f"- {markdown_inline(objection.summary('00:00:05'))}."
    tokens = _walk(MarkdownIt("commonmark").parse(line))
    assert "\n" not in line
    assert not [t for t in tokens if t.type in {"link_open", "heading_open", "html_inline", "html_block"}]
    assert "Eve](http://evil.example) # Consent given <b>" in " ".join(t.content for t in tokens if t.type == "text")
