"""Render a note to Markdown and JSON and write both with owner-only permissions."""

from __future__ import annotations

import json
from pathlib import Path

from bot.escape import markdown_inline as md
from bot.files import ensure_private_dir, write_private
from bot.notes.base import Note
from bot.transcribe.segment import Gap


def clock(seconds: float) -> str:
    total = int(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def describe_gaps(gaps: tuple[Gap, ...]) -> str:
    return "; ".join(f"{clock(g.from_s)}–{clock(g.to_s)} ({g.reason})" for g in gaps)


def session_facts(note: Note) -> list[tuple[str, str]]:
    """The "Session" list of a note, (label, value) in order: one source for the Markdown and HTML views."""
    f = note.facts
    people = ", ".join(f"{p['display_name']} ({p.get('role') or 'participant'})" for p in f.participants) or "none"
    facts = [("Session id", f.session_id), ("Started", f.started_at), ("Duration", clock(f.duration_s)),
             ("Language", f.language), ("Participants", people), ("Template", note.template)]
    if f.ended_because:
        facts.append(("Ended", f.ended_because))
    if f.gaps:
        facts.append(("Not transcribed (nothing said then is in this note)", describe_gaps(f.gaps)))
    return facts


def _citation(segment_id: str, start: float, end: float, linked: bool) -> str:
    label = f"{segment_id} {clock(start)}–{clock(end)}"
    return f"[{label}](#{segment_id})" if linked else label


def to_markdown(note: Note, include_transcript: bool) -> str:
    lines = [
        f"# Session note (draft) — {note.facts.started_at[:10]}",
        "",
        f"> **{md(note.banner)}**",
        "",
        "## Session",
        "",
        *(f"- {label}: `{value}`" if label == "Session id" else f"- {md(label)}: {md(value)}"
          for label, value in session_facts(note)),
        "",
    ]
    for section in note.sections:
        lines += [f"## {md(section.title)}", ""]
        if not section.statements:
            lines += [f"_{md(section.empty_text)}_", ""]
            continue
        linked = include_transcript and bool(note.transcript)
        for statement in section.statements:
            cites = ", ".join(_citation(e.segment_id, e.start, e.end, linked) for e in statement.evidence)
            lines.append(f"- {md(statement.text)} ({cites})")
        lines.append("")
    if include_transcript and note.transcript:
        lines += ["## Transcript (automatic; may contain recognition errors)", ""]
        for s in note.transcript:
            lines.append(f"- <a id=\"{s.id}\"></a>**{s.id}** {clock(s.start)}–{clock(s.end)} "
                         f"{md(s.display_name)}: {md(s.text)}")
        lines.append("")
    return "\n".join(lines)


def write_note(note: Note, output_dir: Path, include_transcript: bool, stem: str | None = None) -> tuple[Path, Path]:
    ensure_private_dir(output_dir)
    stem = stem or f"{note.facts.started_at[:19].replace(':', '').replace('-', '')}-{note.facts.session_id}"
    data = note.to_dict()
    if not include_transcript:
        data["transcript"] = []
    markdown = write_private(output_dir / f"{stem}.md", to_markdown(note, include_transcript))
    as_json = write_private(output_dir / f"{stem}.json", json.dumps(data, indent=2, ensure_ascii=False))
    return markdown, as_json
