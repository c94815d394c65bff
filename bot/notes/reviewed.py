"""The clinician's reviewed version of a drafted note: which statements were kept, edited, removed.

A draft is read back from its JSON (what `render.write_note` wrote). Each statement has an id
from its place in the draft ("st-<section>-<statement>", 1-based), stable for as long as the
draft file is unchanged; the reviewed JSON records the draft's SHA-256 so a decision can never
be applied to a different draft. Kept statements keep their text and evidence exactly as the
draft has them (the page's copy of a kept statement is never trusted). An edited statement is
the clinician's wording: it keeps the draft's citations for traceability but is marked as edited
and no longer machine-checked, since nothing compared the new wording with the transcript. Risk
flags are verbatim quotes: they can be kept or removed, never reworded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bot.escape import markdown_inline as md
from bot.escape import plain_text
from bot.files import write_private
from bot.notes.base import DRAFT_BANNER, Evidence, Note, Section, SessionFacts, Statement
from bot.notes.render import clock, session_facts
from bot.transcribe.segment import Gap, Segment

Action = Literal["keep", "edit", "remove"]
ACTIONS: frozenset[str] = frozenset({"keep", "edit", "remove"})
MAX_EDIT_CHARS = 4000
REVIEWED_SUFFIX = ".reviewed"
EDITED_MARK = "edited by the clinician"


class ReviewError(ValueError):
    """A draft that cannot be reviewed, or a set of decisions that cannot be applied; says why."""


@dataclass(frozen=True)
class Draft:
    note: Note
    json_path: Path
    sha256: str

    @property
    def stem(self) -> str:
        return self.json_path.stem

    def reviewed_paths(self) -> tuple[Path, Path]:
        base = self.stem + REVIEWED_SUFFIX
        return self.json_path.with_name(f"{base}.md"), self.json_path.with_name(f"{base}.json")


@dataclass(frozen=True)
class Decision:
    action: Action
    text: str | None = None  # the clinician's wording, for "edit" only


def statement_id(section_index: int, statement_index: int) -> str:
    return f"st-{section_index + 1}-{statement_index + 1}"


def risk_section_index(note: Note) -> int | None:
    """Generators put the risk flags first, and only when that purpose was consented."""
    return 0 if note.risk_flags is not None and note.sections else None


def statements_by_id(note: Note) -> dict[str, tuple[int, Statement]]:
    return {statement_id(i, j): (i, st) for i, section in enumerate(note.sections)
            for j, st in enumerate(section.statements)}


def draft_json_path(path: Path) -> Path:
    """The draft's JSON for any of its files (<stem>.md, .json or .html)."""
    if path.suffix not in (".md", ".json", ".html"):
        raise ReviewError(f"{path.name}: not a note file. Fix: pass the draft's .json, .md or .html.")
    json_path = path.with_suffix(".json")
    if json_path.stem.endswith(REVIEWED_SUFFIX):
        raise ReviewError(f"{path.name} is already a reviewed version. Fix: review the draft, "
                          f"{json_path.stem.removesuffix(REVIEWED_SUFFIX)}.json.")
    if not json_path.is_file():
        raise ReviewError(f"{json_path.name} not found beside {path.name}: the review needs the draft's JSON, "
                          "which `sessionbot note` and every call write with the Markdown.")
    return json_path


def load_draft(path: Path) -> Draft:
    json_path = draft_json_path(path)
    raw = json_path.read_bytes()
    try:
        data = json.loads(raw)
        note = note_from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise ReviewError(f"{json_path.name} is not a drafted note's JSON ({exc.__class__.__name__}: {exc})") from exc
    return Draft(note, json_path, hashlib.sha256(raw).hexdigest())


def note_from_dict(data: dict[str, Any]) -> Note:
    if data.get("draft") is not True or data.get("reviewed"):
        raise ValueError("not marked as a draft")
    f = data["facts"]
    facts = SessionFacts(f["session_id"], f["started_at"], float(f["duration_s"]), f["language"],
                         tuple(dict(p) for p in f["participants"]), f.get("ended_because"),
                         tuple(Gap(**g) for g in f.get("gaps", ())))
    sections = tuple(
        Section(s["title"], tuple(Statement(st["text"], tuple(Evidence(**e) for e in st["evidence"]))
                                  for st in s["statements"]),
                s.get("empty_text", "Not discussed in this session."), bool(s.get("requires_approval", False)))
        for s in data["sections"]
    )
    transcript = tuple(Segment(**s) for s in data.get("transcript", ()))
    # Only the presence of risk flags matters for the review (which section holds them); their
    # content is in that section's statements.
    flags = () if "risk_flags" in data else None
    return Note(data["template"], facts, sections, data.get("banner", DRAFT_BANNER), transcript, flags,
                tuple(data.get("purposes", ("notes",))))


def parse_decisions(note: Note, body: Any) -> dict[str, Decision]:
    """The page's {"decisions": {id: {"action": …, "text": …}}}: every statement exactly once."""
    if not isinstance(body, dict) or not isinstance(body.get("decisions"), dict):
        raise ReviewError('expected a JSON object {"decisions": {"<statement id>": {"action": "keep|edit|remove"}}}')
    known = statements_by_id(note)
    given: dict[str, Any] = body["decisions"]
    missing, unknown = sorted(known.keys() - given.keys()), sorted(given.keys() - known.keys())
    if missing or unknown:
        raise ReviewError(f"the decisions must name every statement of this draft once: missing {missing[:5]}, "
                          f"unknown {unknown[:5]} (was the draft changed since the page was opened? reload it)")
    risk = risk_section_index(note)
    decisions = {}
    for sid, entry in given.items():
        action = entry.get("action") if isinstance(entry, dict) else None
        if action not in ACTIONS:
            raise ReviewError(f"{sid}: action must be one of keep, edit, remove")
        if action != "edit":
            decisions[sid] = Decision(action)
            continue
        if known[sid][0] == risk:
            raise ReviewError(f"{sid}: a risk flag is a verbatim quote; keep or remove it, do not reword it")
        text = entry.get("text")
        if not isinstance(text, str) or not plain_text(text):
            raise ReviewError(f"{sid}: an edited statement needs its new text (remove it instead?)")
        if len(text) > MAX_EDIT_CHARS:
            raise ReviewError(f"{sid}: an edited statement is at most {MAX_EDIT_CHARS} characters")
        text = plain_text(text)
        decisions[sid] = Decision("keep") if text == plain_text(known[sid][1].text) else Decision("edit", text)
    return decisions


def reviewed_dict(draft: Draft, decisions: dict[str, Decision], reviewed_at: str) -> dict[str, Any]:
    note = draft.note
    ids: dict[str, list[str]] = {"kept": [], "edited": [], "removed": []}
    sections = []
    for i, section in enumerate(note.sections):
        statements = []
        for j, st in enumerate(section.statements):
            sid = statement_id(i, j)
            decision = decisions[sid]
            evidence = [asdict(e) for e in st.evidence]
            if decision.action == "remove":
                ids["removed"].append(sid)
                continue
            if decision.action == "edit":
                ids["edited"].append(sid)
                statements.append({"id": sid, "text": decision.text, "status": "edited", "machine_checked": False,
                                   "draft_text": st.text, "draft_evidence": evidence})
            else:
                ids["kept"].append(sid)
                statements.append({"id": sid, "text": st.text, "status": "kept", "machine_checked": True,
                                   "evidence": evidence})
        sections.append({"title": section.title, "statements": statements, "empty_text": section.empty_text,
                         "requires_approval": section.requires_approval,
                         "risk_flags": i == risk_section_index(note)})
    return {
        "reviewed": True, "draft": False, "reviewed_at": reviewed_at,
        "reviewed_from": {"file": draft.json_path.name, "sha256": draft.sha256},
        "statement_ids": ids, "template": note.template, "facts": asdict(note.facts),
        "purposes": list(note.purposes), "sections": sections, "transcript": [s.to_dict() for s in note.transcript],
    }


def _cite(e: dict[str, Any], linked: bool) -> str:
    label = f"{e['segment_id']} {clock(e['start'])}\u2013{clock(e['end'])}"
    return f"[{label}](#{e['segment_id']})" if linked else label


def reviewed_markdown(note: Note, data: dict[str, Any]) -> str:
    ids = data["statement_ids"]
    linked = bool(note.transcript)
    lines = [
        f"# Session note (reviewed) \u2014 {md(note.facts.started_at[:10])}", "",
        f"> **Reviewed by the clinician at {md(data['reviewed_at'])}** from the AI-drafted "
        f"{md(data['reviewed_from']['file'])}: {len(ids['kept'])} statements kept as drafted, "
        f"{len(ids['edited'])} edited, {len(ids['removed'])} removed. Kept statements cite the transcript "
        f"lines they rest on. Statements marked _{EDITED_MARK}_ are the clinician's wording: the citations "
        "show what the draft rested on; the new wording was not checked against the transcript.", "",
        "## Session", "",
        *(f"- {label}: `{value}`" if label == "Session id" else f"- {md(label)}: {md(value)}"
          for label, value in session_facts(note)), "",
    ]
    for section in data["sections"]:
        lines += [f"## {md(section['title'])}", ""]
        if section["risk_flags"]:
            lines += ["_Risk language, quoted verbatim as it was said. A mention, not an assessment._", ""]
        if not section["statements"]:
            lines += [f"_{md(section['empty_text'])}_", ""]
            continue
        for st in section["statements"]:
            if st["status"] == "edited":
                cites = ", ".join(_cite(e, linked) for e in st["draft_evidence"])
                lines.append(f"- _[{EDITED_MARK}]_ {md(st['text'])} (draft cited: {cites})")
            else:
                lines.append(f"- {md(st['text'])} ({', '.join(_cite(e, linked) for e in st['evidence'])})")
        lines.append("")
    if linked:
        lines += ["## Transcript (automatic; may contain recognition errors)", ""]
        lines += [f"- <a id=\"{s.id}\"></a>**{s.id}** {clock(s.start)}\u2013{clock(s.end)} "
                  f"{md(s.display_name)}: {md(s.text)}" for s in note.transcript]
        lines.append("")
    return "\n".join(lines)


def write_reviewed(draft: Draft, decisions: dict[str, Decision], now: datetime | None = None) -> tuple[Path, Path]:
    """Write <stem>.reviewed.md and .json beside the draft, each 0600 and atomic; the draft is untouched."""
    reviewed_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    data = reviewed_dict(draft, decisions, reviewed_at)
    md_path, json_path = draft.reviewed_paths()
    if {md_path.name, json_path.name} & {f"{draft.stem}.md", f"{draft.stem}.json"}:
        raise ReviewError("refusing to write the reviewed version over the draft")
    write_private(json_path, json.dumps(data, indent=2, ensure_ascii=False))
    write_private(md_path, reviewed_markdown(draft.note, data))
    return md_path, json_path


def previous_decisions(draft: Draft) -> dict[str, Decision]:
    """An earlier reviewed version of this very draft, so reopening the review starts where it ended."""
    path = draft.reviewed_paths()[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("reviewed_from", {}).get("sha256") != draft.sha256:
            return {}
        found = {sid: Decision("remove") for sid in data["statement_ids"]["removed"]}
        for section in data["sections"]:
            for st in section["statements"]:
                found[st["id"]] = Decision("edit", st["text"]) if st["status"] == "edited" else Decision("keep")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return found if found.keys() == statements_by_id(draft.note).keys() else {}
