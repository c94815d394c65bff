"""Read a finished conversation from a file into transcript segments.

Two formats, so that a note can be drafted without a call (`sessionbot note INPUT`) and
so the note generator can be measured on real dialogue → note pairs (ACI-BENCH):

* plain text, one turn a line: ``[speaker] what they said`` (ACI-BENCH writes
  ``[doctor]`` / ``[patient]``); blank lines are skipped, and a line without a
  ``[speaker]`` tag continues the previous turn (ACI-BENCH wraps a few turns);
* transcript JSON: ``{"language": "en", "segments": [{"display_name": ..., "text": ...,
  "role"?, "id"?, "participant_id"?, "start"?, "end"?, "language"?}]}``.

Timestamps absent from the input are synthesised from the number of words (a typical
speaking rate), so citations stay ordered and readable; they are not real times.
Errors name the line (or segment index) and the fix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bot.transcribe.segment import Segment

SPEAKER_ROLES = {
    "doctor": "clinician", "clinician": "clinician", "therapist": "clinician", "counselor": "clinician",
    "counsellor": "clinician", "psychologist": "clinician", "provider": "clinician", "nurse": "clinician",
    "patient": "client", "client": "client",
    "terapeuta": "clinician", "médico": "clinician", "medico": "clinician", "médica": "clinician",
    "paciente": "client", "cliente": "client",
}
WORDS_PER_SECOND = 2.5  # ~150 words a minute
MIN_TURN_S = 1.0
GAP_S = 0.5
_LINE = re.compile(r"^\s*\[([^\]\n]{1,40})\]\s*(.*)$")


class DialogueError(ValueError):
    """Malformed dialogue input, worded for the person who has to fix the file."""


def role_of(speaker: str) -> str | None:
    """Map a speaker label to a role: doctor/therapist/… → clinician, patient/client → client."""
    return SPEAKER_ROLES.get(speaker.strip().lower().replace("_", " ").split(" ")[0])


def _duration(text: str) -> float:
    return max(MIN_TURN_S, round(len(text.split()) / WORDS_PER_SECOND, 2))


def parse_dialogue_text(text: str, language: str = "en", session_id: str = "dialogue") -> list[Segment]:
    """Parse ``[speaker] text`` lines into segments with synthetic timestamps."""
    turns: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match:
            speaker, said = match.group(1).strip(), match.group(2).strip()
            if not speaker:
                raise DialogueError(f"line {number}: empty speaker tag []. Fix: write e.g. [clinician] or [client].")
            turns.append((speaker, said))
        elif turns:
            speaker, said = turns[-1]
            turns[-1] = (speaker, f"{said} {line.strip()}".strip())
        else:
            raise DialogueError(
                f"line {number}: no [speaker] tag. Fix: start each turn with the speaker in brackets, "
                "e.g. '[clinician] How was your week?' or '[client] Better.'"
            )
    if not turns:
        raise DialogueError("no turns found. Fix: write one '[speaker] text' line per turn.")
    segments: list[Segment] = []
    clock = 0.0
    participants: dict[str, str] = {}
    for index, (speaker, said) in enumerate(turns, start=1):
        if not said:
            continue
        pid = participants.setdefault(speaker.lower(), f"p{len(participants) + 1}")
        role = role_of(speaker)
        end = round(clock + _duration(said), 2)
        segments.append(Segment(
            id=f"S{index}", session_id=session_id, participant_id=pid,
            display_name=speaker[:1].upper() + speaker[1:],
            role=role, start=round(clock, 2), end=end, text=said, language=language, confidence=1.0,
        ))
        clock = end + GAP_S
    return segments


def _number(value: Any, where: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise DialogueError(f"{where}: '{key}' must be a number of seconds ≥ 0, got {value!r}. Fix: correct or remove it.")
    return float(value)


def _text(value: Any, where: str, key: str, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise DialogueError(f"{where}: '{key}' must be a non-empty string. Fix: add it, e.g. \"{key}\": \"…\".")
    return value


def parse_transcript_json(data: Any, language: str | None = None, session_id: str = "transcript") -> list[Segment]:
    """Turn transcript JSON (already decoded) into segments; missing times are synthesised.

    A note JSON written by sessionbot is accepted too: its "transcript" is the segment list,
    so a clinician can redraft a finished session in another template."""
    if isinstance(data, dict) and data.get("draft") is True and isinstance(data.get("transcript"), list):
        data = {"language": (data.get("facts") or {}).get("language"), "segments": data["transcript"]}
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        raise DialogueError("transcript JSON: expected an object with a \"segments\" list. "
                            "Fix: {\"language\": \"en\", \"segments\": [{\"display_name\": \"…\", \"text\": \"…\"}]}.")
    default_language = language or data.get("language") or "en"
    if not isinstance(default_language, str):
        raise DialogueError("transcript JSON: \"language\" must be a string such as \"en\". Fix: correct it.")
    allowed = {"id", "participant_id", "display_name", "role", "start", "end", "text", "language", "confidence",
               "session_id"}
    segments: list[Segment] = []
    clock = 0.0
    seen: set[str] = set()
    for index, raw in enumerate(data["segments"]):
        where = f"segments[{index}]"
        if not isinstance(raw, dict):
            raise DialogueError(f"{where}: expected an object. Fix: {{\"display_name\": \"…\", \"text\": \"…\"}}.")
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise DialogueError(f"{where}: unknown key(s) {', '.join(unknown)}. Fix: remove them or use one of "
                                f"{', '.join(sorted(allowed))}.")
        name = _text(raw.get("display_name"), where, "display_name", True) or ""
        text = (_text(raw.get("text"), where, "text", False) or "").strip()
        role = raw.get("role")
        if role is not None and role not in ("clinician", "client"):
            mapped = role_of(str(role))
            if mapped is None:
                raise DialogueError(f"{where}: role {role!r} is not 'clinician' or 'client'. Fix: use one of those "
                                    "or leave it out (unknown role).")
            role = mapped
        start = _number(raw.get("start"), where, "start")
        end = _number(raw.get("end"), where, "end")
        start = clock if start is None else start
        end = round(start + _duration(text), 2) if end is None else end
        if end < start:
            raise DialogueError(f"{where}: 'end' ({end}) is before 'start' ({start}). Fix: swap or correct them.")
        seg_id = str(raw.get("id") or f"S{index + 1}")
        if seg_id in seen:
            raise DialogueError(f"{where}: duplicate id {seg_id!r}. Fix: give every segment its own id.")
        seen.add(seg_id)
        seg_language = _text(raw.get("language"), where, "language", False) or default_language
        confidence = _number(raw.get("confidence"), where, "confidence")
        if not text:
            clock = end + GAP_S
            continue
        segments.append(Segment(
            id=seg_id, session_id=session_id, participant_id=str(raw.get("participant_id") or name),
            display_name=name, role=role, start=start, end=end, text=text, language=seg_language,
            confidence=1.0 if confidence is None else min(confidence, 1.0),
        ))
        clock = end + GAP_S
    if not segments:
        raise DialogueError("transcript JSON: no segment has any text. Fix: add segments with \"text\".")
    return sorted(segments, key=lambda s: (s.start, s.end))


def load_dialogue(path: Path, language: str | None = None) -> list[Segment]:
    """Read `path`: transcript JSON when it ends in .json (or starts with '{'), else `[speaker] text` lines."""
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DialogueError(f"{path}: no such file. Fix: check the path.") from None
    except UnicodeDecodeError:
        raise DialogueError(f"{path}: not UTF-8 text. Fix: save it as UTF-8.") from None
    session_id = re.sub(r"[^A-Za-z0-9_-]", "-", path.stem)[:40] or "dialogue"
    try:
        if path.suffix.lower() == ".json" or content.lstrip().startswith("{"):
            try:
                data = json.loads(content)
            except json.JSONDecodeError as exc:
                raise DialogueError(f"line {exc.lineno}: not valid JSON ({exc.msg}). Fix: correct the syntax there.") from None
            return parse_transcript_json(data, language, session_id)
        return parse_dialogue_text(content, language or "en", session_id)
    except DialogueError as exc:
        raise DialogueError(f"{path}: {exc}") from None
