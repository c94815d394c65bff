"""When consent applies to each participant, and so when their speech may be kept.

A participant's speech may be stored only once their announcement (or
re-announcement) has been played to them in full and, where the clinic asks
at join time (`consent.ask_on_join`), once they have agreed. Until then what
they say is transcribed only to check it for an objection: it is "held", never
stored, shown or journaled, and the note shows that stretch as not transcribed.
An utterance that *began* before consent applied is held whole. Its start
includes the VAD's pre-roll (audio kept from just before speech was detected),
so the speech itself began up to that much later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.audio.vad import PRE_ROLL_MS
from bot.transcribe.segment import Gap, Participant

PRE_ROLL_S = PRE_ROLL_MS / 1000

BEFORE_ANNOUNCEMENT = "before the announcement had reached"


@dataclass
class Admission:
    participant: Participant
    joined_at_s: float
    must_answer: bool = False  # asked the join-time question and it can be answered on this platform
    announced_at_s: float | None = None
    agreed_at_s: float | None = None
    left_at_s: float | None = None
    held: int = 0  # utterances checked but not kept

    @property
    def admitted_at_s(self) -> float | None:
        if self.announced_at_s is None:
            return None
        if self.must_answer:
            return None if self.agreed_at_s is None else max(self.announced_at_s, self.agreed_at_s)
        return self.announced_at_s

    def admits(self, start_s: float) -> bool:
        admitted = self.admitted_at_s
        return admitted is not None and start_s + PRE_ROLL_S >= admitted


@dataclass
class Admissions:
    by_id: dict[str, Admission] = field(default_factory=dict)

    def joined(self, participant: Participant, at_s: float) -> Admission:
        admission = self.by_id.get(participant.id)
        if admission is None:
            admission = self.by_id[participant.id] = Admission(participant, at_s)
        admission.left_at_s = None
        return admission

    def left(self, participant_id: str, at_s: float) -> None:
        admission = self.by_id.get(participant_id)
        if admission is not None and admission.admitted_at_s is None:
            admission.left_at_s = at_s

    def announced(self, participant_id: str, at_s: float) -> None:
        admission = self.by_id.get(participant_id)
        if admission is not None and admission.announced_at_s is None:
            admission.announced_at_s = at_s

    def agreed(self, participant_id: str, at_s: float) -> None:
        admission = self.by_id.get(participant_id)
        if admission is not None and admission.agreed_at_s is None:
            admission.agreed_at_s = at_s

    def admits(self, participant_id: str, start_s: float) -> bool:
        admission = self.by_id.get(participant_id)
        return admission is not None and admission.admits(start_s)

    def hold(self, participant_id: str) -> None:
        admission = self.by_id.get(participant_id)
        if admission is not None:
            admission.held += 1

    def gaps(self, now_s: float) -> list[Gap]:
        """For each participant, the stretch from joining until consent applied (or they left, or now)."""
        gaps = []
        for admission in self.by_id.values():
            until = admission.admitted_at_s
            if until is None:
                until = admission.left_at_s if admission.left_at_s is not None else now_s
            if until > admission.joined_at_s:
                name = admission.participant.display_name
                gaps.append(Gap(round(admission.joined_at_s, 2), round(until, 2), f"{BEFORE_ANNOUNCEMENT} {name}"))
        return gaps
