"""A self-contained HTML view of a note, for a clinician reviewing it in a browser.

Why HTML besides Markdown: each statement shows the transcript lines it cites (speaker, time,
text) on hover (a tooltip) and on click (the list under it), and its citations link to those
lines in the transcript (highlighted with :target), so checking a statement against what was
said is one click. The page written beside the draft has no script at all: it loads nothing
from anywhere (inline CSS, no fonts, no images) and needs none to show the evidence (a
focused statement opens it). The same page served by `sessionbot review` (bot/notes/review.py)
adds remove/edit controls and "save reviewed version": one inline script, allowed by its hash
in the page's Content-Security-Policy, talking only to the server that served it. Every piece
of text (transcript, names, titles, statements) is HTML-escaped, on one line and without bidi
controls (bot/escape.py): a transcript that contains markup shows it as text. Written
owner-only (0600) like every note file.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from bot.escape import html_text
from bot.files import ensure_private_dir, write_private
from bot.notes.base import Evidence, Note, Section, Statement
from bot.notes.render import clock, session_facts
from bot.notes.reviewed import EDITED_MARK, Decision, risk_section_index, statement_id
from bot.transcribe.segment import Segment

STATUS_CLASS = {"keep": "kept", "edit": "edited", "remove": "removed"}

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f6f4;color:#1d1d1b}
main{max-width:56rem;margin:0 auto;padding:1.5rem 1.25rem 4rem;background:#fff}
h1{font-size:1.5rem;margin:.2rem 0 1rem}h2{font-size:1.15rem;margin:1.6rem 0 .5rem;border-bottom:1px solid #ddd}
.banner{background:#fff4d6;border:1px solid #e0b84c;padding:.6rem .8rem;border-radius:4px;font-weight:600}
.approval{background:#fde8e8;border:1px solid #d9534f;padding:.4rem .7rem;border-radius:4px;font-weight:600}
.facts{list-style:none;padding:0;color:#444}.facts li{margin:.1rem 0}
.statements li{margin:.35rem 0}.empty{color:#666;font-style:italic}
.cite{font-size:.8rem;color:#555;white-space:nowrap}.cite a{color:#1f5fa8}
.transcript{list-style:none;padding:0}.transcript li{padding:.25rem .4rem;border-left:3px solid transparent}
.transcript li:target{background:#fff4d6;border-left-color:#e0b84c}
.who{font-weight:600}.time{color:#666;font-size:.8rem;font-variant-numeric:tabular-nums}
.risk h2{color:#9b1c1c}
.tools{background:#eef4fb;border:1px solid #b7cde8;padding:.5rem .8rem;border-radius:4px}
.hint{color:#555;font-size:.9rem}
.statement{cursor:pointer;padding:.1rem .3rem;border-radius:3px}.statement:focus{outline:2px solid #b7cde8}
.statement .evidence{display:none;list-style:none;margin:.3rem 0 .4rem;padding:.3rem .6rem;background:#f7f7f2;
 border-left:3px solid #e0b84c;font-size:.9rem;cursor:auto}
body:not(.scripted) .statement:focus-within>.evidence,.statement.open>.evidence{display:block}
.label{font-size:.75rem;background:#fde8e8;color:#9b1c1c;border-radius:3px;padding:0 .3rem}
.controls button,#save{font:inherit;font-size:.8rem;margin-left:.2rem}
.edited-mark{display:none;font-size:.75rem;background:#e8eefd;color:#1f3f9b;border-radius:3px;padding:0 .3rem;margin-left:.3rem}
.statement.edited .edited-mark{display:inline}
.statement.removed .text,.statement.removed .cite{text-decoration:line-through;color:#888}
.statement textarea{width:100%;font:inherit;min-height:3.5rem}
#status{font-weight:600}
@media print{body{background:#fff}main{max-width:none}.tools,.controls{display:none}}
"""


@dataclass(frozen=True)
class ReviewPage:
    """What the served review page needs beyond the note: where to save, and an earlier review to resume."""

    save_url: str
    previous: dict[str, Decision] = field(default_factory=dict)


def anchor_id(segment_id: str) -> str:
    """A valid, unique-per-segment HTML id (segment ids are ours, but stay safe if they are not)."""
    return "seg-" + re.sub(r"[^A-Za-z0-9_-]", lambda m: f"_{ord(m.group(0)):x}_", segment_id)


def _citation(evidence: Evidence, linked: bool) -> str:
    label = html_text(f"{evidence.segment_id} {clock(evidence.start)}\u2013{clock(evidence.end)} {evidence.speaker}")
    if linked:
        return f'<a href="#{html_text(anchor_id(evidence.segment_id))}">{label}</a>'
    return label


def _evidence(statement: Statement, said: dict[str, Segment]) -> tuple[str, str]:
    """The cited lines as a list shown on click, and as one line for the hover tooltip."""
    items, hover = [], []
    for e in statement.evidence:
        when = f"{e.segment_id} {clock(e.start)}\u2013{clock(e.end)}"
        segment = said.get(e.segment_id)
        text = segment.text if segment is not None else "(the transcript was not kept with this note)"
        items.append(f'<li><span class="time">{html_text(when)}</span> <span class="who">{html_text(e.speaker)}:</span> '
                     f"{html_text(text)}</li>")
        hover.append(f"{e.speaker} {when}: {text}")
    return '<ul class="evidence">' + "".join(items) + "</ul>", html_text("Evidence \u2014 " + " | ".join(hover))


def _statement(sid: str, statement: Statement, linked: bool, said: dict[str, Segment], risk: bool,
               review: ReviewPage | None) -> str:
    listed, hover = _evidence(statement, said)
    cites = ", ".join(_citation(e, linked) for e in statement.evidence)
    decision = review.previous.get(sid) if review is not None else None
    status = decision.action if decision is not None else "keep"
    text = decision.text if decision is not None and decision.text else statement.text
    label = '<span class="label">verbatim quote</span> ' if risk else ""
    controls = ""
    if review is not None:
        edit = "" if risk else '<button type="button" data-act="edit">Edit</button> '
        controls = (f' <span class="controls">{edit}<button type="button" data-act="remove">'
                    f'{"Restore" if status == "remove" else "Remove"}</button></span>'
                    f'<span class="edited-mark">{EDITED_MARK}</span>')
    draft = f' data-draft="{html_text(statement.text)}"' if status == "edit" else ""
    return (f'<li class="statement {STATUS_CLASS[status]}" id="{sid}" data-id="{sid}" data-risk="{int(risk)}"{draft} '
            f'tabindex="0">{label}<span class="text" title="{hover}">{html_text(text)}</span> '
            f'<span class="cite">({cites})</span>{controls}{listed}</li>')


def _section(index: int, section: Section, linked: bool, said: dict[str, Segment], risk: bool,
             review: ReviewPage | None) -> str:
    opening = '<section class="risk">' if risk else "<section>"
    parts = [opening, f"<h2>{html_text(section.title)}</h2>"]
    if section.requires_approval:
        parts.append('<p class="approval">Requires clinician approval before it is shared with the client. '
                     "Nothing here has been sent to anyone.</p>")
    if risk:
        parts.append('<p class="hint">Risk language, quoted verbatim as it was said: a mention, not an assessment.</p>')
    if not section.statements:
        parts.append(f'<p class="empty">{html_text(section.empty_text)}</p>')
    else:
        parts.append('<ul class="statements">')
        parts += [_statement(statement_id(index, j), st, linked, said, risk, review)
                  for j, st in enumerate(section.statements)]
        parts.append("</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def _review_script() -> str:
    return resources.files("bot.notes").joinpath("static/review.js").read_text(encoding="utf-8")


def to_html(note: Note, include_transcript: bool, review: ReviewPage | None = None, source: str | None = None) -> str:
    """The whole page as a string; citations link to transcript lines only when those are included.

    `review` makes it the page `sessionbot review` serves (remove/edit controls and the save button,
    with its one inline script allowed by hash); `source` names the draft's JSON for the hint telling
    how to review it."""
    f = note.facts
    linked = include_transcript and bool(note.transcript)
    said = {s.id: s for s in note.transcript} if include_transcript else {}
    risk_index = risk_section_index(note)
    title = "Session note (review)" if review is not None else "Session note (draft)"
    body = [
        f"<h1>{title} \u2014 {html_text(f.started_at[:10])}</h1>",
        f'<p class="banner">{html_text(note.banner)}</p>',
    ]
    if review is not None:
        body.append('<p class="tools">Click a statement to see what it rests on. <b>Remove</b> or <b>Edit</b> '
                    "what is wrong, then save: the reviewed version is written beside the draft, readable by "
                    "you only; the draft itself is not changed. "
                    f'<button type="button" id="save" data-url="{html_text(review.save_url)}">Save reviewed version'
                    '</button> <span id="status" role="status" aria-live="polite"></span></p>')
    elif source:
        body.append('<p class="tools">Hover over or click a statement to see the transcript lines it rests on. '
                    f"To remove or edit statements and save a reviewed version: <code>sessionbot review "
                    f"{html_text(source)}</code></p>")
    body += [
        '<ul class="facts">',
        *(f"<li>{label}: <code>{html_text(value)}</code></li>" if label == "Session id" else f"<li>{label}: {html_text(value)}</li>"
          for label, value in session_facts(note)),
        "</ul>",
    ]
    body += [_section(i, s, linked, said, i == risk_index, review) for i, s in enumerate(note.sections)]
    if linked:
        body.append("<h2>Transcript (automatic; may contain recognition errors)</h2>")
        body.append('<ol class="transcript">')
        for s in note.transcript:
            body.append(
                f'<li id="{html_text(anchor_id(s.id))}"><span class="time">{html_text(s.id)} '
                f"{clock(s.start)}\u2013{clock(s.end)}</span> <span class=\"who\">{html_text(s.display_name)}:</span> "
                f"{html_text(s.text)}</li>"
            )
        body.append("</ol>")
    language = html_text(f.language or "en")
    policy = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
    script = ""
    if review is not None:
        code = _review_script()
        digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii")
        policy += f"; script-src 'sha256-{digest}'; connect-src 'self'"
        script = f"<script>{code}</script>\n"
    return (
        f'<!DOCTYPE html>\n<html lang="{language}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        f"<title>{title} \u2014 {html_text(f.session_id)}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n" + "\n".join(body) + "\n</main>\n"
        + script + "</body>\n</html>\n"
    )


def write_html(note: Note, output_dir: Path, include_transcript: bool, stem: str | None = None) -> Path:
    """Write <stem>.html next to the Markdown and JSON (same default stem as render.write_note), mode 0600."""
    ensure_private_dir(output_dir)
    stem = stem or f"{note.facts.started_at[:19].replace(':', '').replace('-', '')}-{note.facts.session_id}"
    return write_private(output_dir / f"{stem}.html", to_html(note, include_transcript, source=f"{stem}.json"))
