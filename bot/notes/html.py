"""A self-contained HTML view of a note, for a clinician reviewing it in a browser.

Why HTML besides Markdown: each statement's citations are links that jump to the cited
transcript lines (highlighted with :target), which makes checking a statement against
what was said one click. The page loads nothing from anywhere (inline CSS, no scripts,
no fonts, no images), so opening it never contacts a server, and every piece of text
(transcript, names, titles) is HTML-escaped, on one line and without bidi controls
(bot/escape.py): a transcript that contains markup shows it as text. Written owner-only
(0600) like every note file.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.escape import html_text
from bot.files import ensure_private_dir, write_private
from bot.notes.base import Evidence, Note, Section
from bot.notes.render import clock, session_facts

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
@media print{body{background:#fff}main{max-width:none}}
"""


def anchor_id(segment_id: str) -> str:
    """A valid, unique-per-segment HTML id (segment ids are ours, but stay safe if they are not)."""
    return "seg-" + re.sub(r"[^A-Za-z0-9_-]", lambda m: f"_{ord(m.group(0)):x}_", segment_id)


def _citation(evidence: Evidence, linked: bool) -> str:
    label = html_text(f"{evidence.segment_id} {clock(evidence.start)}\u2013{clock(evidence.end)} {evidence.speaker}")
    if linked:
        return f'<a href="#{html_text(anchor_id(evidence.segment_id))}">{label}</a>'
    return label


def _section(section: Section, linked: bool, risk: bool) -> str:
    opening = '<section class="risk">' if risk else "<section>"
    parts = [opening, f"<h2>{html_text(section.title)}</h2>"]
    if section.requires_approval:
        parts.append('<p class="approval">Requires clinician approval before it is shared with the client. '
                     "Nothing here has been sent to anyone.</p>")
    if not section.statements:
        parts.append(f'<p class="empty">{html_text(section.empty_text)}</p>')
    else:
        parts.append('<ul class="statements">')
        for statement in section.statements:
            cites = ", ".join(_citation(e, linked) for e in statement.evidence)
            parts.append(f'<li>{html_text(statement.text)} <span class="cite">({cites})</span></li>')
        parts.append("</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def to_html(note: Note, include_transcript: bool) -> str:
    """The whole page as a string; citations link to transcript lines only when those are included."""
    f = note.facts
    linked = include_transcript and bool(note.transcript)
    risk_titles = {note.sections[0].title} if note.risk_flags is not None and note.sections else set()
    body = [
        f"<h1>Session note (draft) \u2014 {html_text(f.started_at[:10])}</h1>",
        f'<p class="banner">{html_text(note.banner)}</p>',
        '<ul class="facts">',
        *(f"<li>{label}: <code>{html_text(value)}</code></li>" if label == "Session id" else f"<li>{label}: {html_text(value)}</li>"
          for label, value in session_facts(note)),
        "</ul>",
    ]
    body += [_section(s, linked, s.title in risk_titles) for s in note.sections]
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
    return (
        f'<!DOCTYPE html>\n<html lang="{language}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        f"<title>Session note (draft) \u2014 {html_text(f.session_id)}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


def write_html(note: Note, output_dir: Path, include_transcript: bool, stem: str | None = None) -> Path:
    """Write <stem>.html next to the Markdown and JSON (same default stem as render.write_note), mode 0600."""
    ensure_private_dir(output_dir)
    stem = stem or f"{note.facts.started_at[:19].replace(':', '').replace('-', '')}-{note.facts.session_id}"
    return write_private(output_dir / f"{stem}.html", to_html(note, include_transcript))
