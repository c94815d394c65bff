"""Ordinary clinical conversation replayed right after the announcement: the false stops that the
moment causes (part of `sessionbot bench consent`).

Each ACI-BENCH dialogue of a split (English doctor-patient talk nobody wrote for this project; the
validation split is held out, the objection head learned hard negatives from the training split) is
replayed turn by turn through the in-call check, as finals with times: the
assistant announces itself over the first 12 s, then the doctor speaks as the clinician and everyone
else as the client, each turn lasting as long as its words take at 150 words a minute, 0.6 s apart.
Any stop is a false stop, and the first one ends the dialogue, as it would end the call. Baselines
in the same run, on the same turns: the same replay without the announcement (what the moment adds)
and the naive keyword matcher. Typed text, not speech: this measures the decision, not the hearing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.consent.guard import ConsentGuard, rule_kind
from bot.consent.objection import normalize
from bot.transcribe.segment import Participant

ANNOUNCEMENT_S = (0.0, 12.0)
SECONDS_PER_WORD = 0.4  # 150 words a minute
TURN_GAP_S = 0.6
CLINICIAN = Participant("replay-clinician", "Doctor", "clinician")
CLIENT = Participant("replay-client", "Patient", "client")
_TURN = re.compile(r"^\[(\w+)\]\s*(.*)$")


@dataclass
class Turn:
    speaker: Participant
    text: str
    start_s: float
    end_s: float


# A turn's outcome: None, or the action ("objection", "ask") and the kind of rule that decided.
Judge = Callable[[Turn], tuple[str, str | None] | None]


@dataclass
class ReplayCounts:
    dialogues: int = 0
    turns: int = 0  # replayed: a dialogue ends at its first stop, as a call does
    stopped: int = 0  # dialogues with a false stop
    stopped_within_context_s: int = 0  # while the announcement could still be the context
    stopped_by_kind: dict[str, int] = field(default_factory=dict)  # the kind of rule that decided
    asked: int = 0  # turns the assistant would have asked about (consent.ask_when_unsure)

    def summary(self) -> dict[str, Any]:
        return {"dialogues": self.dialogues, "turns": self.turns, "dialogues_falsely_stopped": self.stopped,
                "dialogue_false_stop_rate": round(self.stopped / self.dialogues, 4) if self.dialogues else None,
                "falsely_stopped_within_context_s": self.stopped_within_context_s,
                "falsely_stopped_by_kind": self.stopped_by_kind, "turns_asked_about": self.asked,
                "asked_rate_turns": round(self.asked / self.turns, 4) if self.turns else None}


def timed_turns(dialogue: str) -> list[Turn]:
    """The dialogue's turns with the times a call would give them, after the announcement."""
    turns: list[Turn] = []
    at = ANNOUNCEMENT_S[1] + 1.0
    for line in dialogue.splitlines():
        match = _TURN.match(line.strip())
        if match is None or not match.group(2).strip():
            continue
        text = match.group(2).strip()
        end = at + SECONDS_PER_WORD * len(text.split())
        turns.append(Turn(CLINICIAN if match.group(1) == "doctor" else CLIENT, text, at, end))
        at = end + TURN_GAP_S
    return turns


def replay(guard: ConsentGuard, dialogues: list[str], announce: bool) -> ReplayCounts:
    """Every dialogue from a fresh conversation; the first stop ends a dialogue, as it ends a call."""

    def begin() -> None:
        guard.reset_context()
        if announce:
            guard.context.bot_speaking(*ANNOUNCEMENT_S)

    def judged(turn: Turn) -> tuple[str, str | None] | None:
        event = guard.on_speech(turn.speaker, turn.text, "en", turn.end_s, utterance_start_s=turn.start_s)
        return None if event is None else (event.action, rule_kind(event.rule))

    return _replayed(dialogues, begin, judged, ANNOUNCEMENT_S[1] + guard.settings.context_s)


def keyword_replay(dialogues: list[str], matches: Callable[[str], bool], context_s: float) -> ReplayCounts:
    return _replayed(dialogues, lambda: None,
                     lambda turn: ("objection", "keyword") if matches(normalize(turn.text)) else None,
                     ANNOUNCEMENT_S[1] + context_s)


def _replayed(dialogues: list[str], begin: Callable[[], None], judge: Judge, window_end_s: float) -> ReplayCounts:
    counts = ReplayCounts()
    for dialogue in dialogues:
        begin()
        counts.dialogues += 1
        for turn in timed_turns(dialogue):
            counts.turns += 1
            outcome = judge(turn)
            if outcome is not None and outcome[0] == "ask":
                counts.asked += 1
            elif outcome is not None and outcome[0] == "objection":
                kind = outcome[1] or "none"
                counts.stopped += 1
                counts.stopped_within_context_s += turn.end_s <= window_end_s
                counts.stopped_by_kind[kind] = counts.stopped_by_kind.get(kind, 0) + 1
                break
    return counts


def aci_dialogues(split: str) -> list[str]:
    """The ACI-BENCH dialogues of a split ("train" or "valid"), or [] where the data is absent."""
    from bot.bench.notes import load_pairs

    try:
        return [pair.dialogue for pair in load_pairs(split=split)]
    except FileNotFoundError:
        return []
