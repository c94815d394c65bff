"""The content-free record left when a session stopped on an objection."""

from __future__ import annotations

from pathlib import Path

from bot.consent.audit import Objection
from bot.escape import markdown_inline
from bot.files import write_private
from bot.notes.render import clock


def write_objection_record(output_dir: Path, stem: str, session_id: str, objection: Objection,
                           acknowledged: bool) -> Path:
    said = ("The assistant acknowledged, left the call, and kept no transcript and no note." if acknowledged else
            "The assistant left the call and kept no transcript and no note (the acknowledgement could not be "
            "played in full: the call had ended or nobody was left to hear it).")
    summary = objection.summary(clock(objection.at_s)).replace(
        objection.display_name, markdown_inline(objection.display_name), 1)
    return write_private(output_dir / f"{stem}.objection.md", (
        "# Session stopped: a participant objected\n\n"
        f"- Session id: `{session_id}`\n"
        f"- {summary[:1].upper()}{summary[1:]}.\n"
        f"- {said}\n"
    ))
