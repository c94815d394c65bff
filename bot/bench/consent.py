"""`sessionbot bench consent`: recall of objections, false-stop rate and objection-to-stop
latency per language, typed and spoken.

Headline figures come from the blind set (tests/consent_eval/blind/), written by people
who never saw the rules, the examples or earlier sets, and never used to tune anything:
the whole in-call detector (`typed_blind_<sensitivity>`) next to the detector as issue 17 found
it (`typed_blind_cautious_as_found_baseline`: the logistic regression, only where a target is
named, never doubting a rule), the rules alone
(`typed_blind_cautious_rules_only`, what the semantic signal adds) and a naive keyword
matcher (any of stop / record / AI / bot / transcri… anywhere: what intent and negation
handling buy). Items the blind set says were spoken right after the assistant announced itself
(deictic objections such as "turn that thing off", and look-alikes) are checked with that context
(`typed_blind_after_announcement_*`). The labelled examples (announcements/examples/*.toml) train the semantic
signal and tuned the rules, so on them only a 5-fold cross-validated figure is honest
(`examples_cross_validated`, for every threshold: how the one in use was chosen, beside the
logistic regression on the same folds; `after_announcement_cross_validated` for the announcement
model). English
ordinary clinical talk (every turn of the ACI-BENCH validation dialogues in ../shared/data) gives a
false-stop rate on talk nobody wrote for this, turn by turn, and `clinical_dialogues_replayed`
replays each whole dialogue right after the announcement (dialogue_replay.py). The head learns hard
negatives mined from the training split (bot/consent/mined.py), so the validation split is the
held-out figure; the training split's replay is given too, labelled as what it is. Beside them,
same run: a head without the mined negatives (`*_without_mined_negatives_baseline`).

Asking when unsure (consent.ask_when_unsure): every row also gives `handled_rate`, the
objections stopped or asked about, and `asked_rate_non_objections`, the non-objections the
bot would have asked about; `examples_cross_validated.asking_by_ask_threshold` gives both,
per language, for each ask threshold (how consent.ask_threshold was chosen).

Spoken items (blind objections and non-objections of at most 12 words, as people say them)
are rendered with the language's espeak-ng voice and go through the in-call path
(VAD → shared faster-whisper engine → ConsentGuard). Baseline in the same process on the
same items: the same path without the recognizer prompt (`asr_prompt`).
"""

from __future__ import annotations

import asyncio
import random
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress

from bot.audio.tts import render_speech
from bot.bench.consent_cv import CV_FOLDS, SPEAKER, after_announcement_cross_validated, cross_validated
from bot.bench.dialogue_replay import aci_dialogues, keyword_replay, replay
from bot.bench.stats import percentile, rate
from bot.config import REPO_ROOT, Settings
from bot.consent.announcements import load_announcements
from bot.consent.check import JUST_AFTER_S, check_audio
from bot.consent.guard import ConsentGuard
from bot.consent.mined import dialogue_lines
from bot.consent.objection import normalize
from bot.transcribe.engine import TranscriptionEngine

BLIND_DIR = REPO_ROOT / "tests" / "consent_eval" / "blind"
NAIVE_KEYWORDS = re.compile(
    r"\b(stop|stopp|para|pare|basta|arrête|record\w*|grab\w*|grav\w*|enregistr\w*|aufnahm\w*|aufzeichn\w*|registr\w*"
    r"|transcri\w*|ai|ia|ki|bot|robot|assistant\w*|asistente|assistente)\b"
)
SPOKEN_MAX_WORDS = 12
HELD_OUT_SPLIT, MINED_SPLIT = "valid", "train"  # of ACI-BENCH: see bot/consent/mined.py
BLIND_THRESHOLDS = (0.7, 0.98)  # besides the one in use: what moving consent.semantic_threshold does


@dataclass
class Counts:
    objections: int = 0
    caught: int = 0
    non_objections: int = 0
    false_stops: int = 0
    asked: int = 0  # objections the bot asked about instead of stopping (consent.ask_when_unsure)
    asked_others: int = 0  # non-objections it asked about
    latencies_s: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "objections": self.objections,
            "recall": rate(self.caught, self.objections),
            "handled_rate": rate(self.caught + self.asked, self.objections),  # stopped or asked
            "non_objections": self.non_objections,
            "false_stop_rate": rate(self.false_stops, self.non_objections),
            "asked_rate_non_objections": rate(self.asked_others, self.non_objections),
            "latency_median_s": percentile(self.latencies_s, 50),
            "latency_p95_s": percentile(self.latencies_s, 95),
        }


@dataclass(frozen=True)
class EvalSet:
    objections: list[str]
    others: list[str]
    # Said right after the assistant announced itself: checked with that context, as a call would.
    objections_after_announcement: list[str]
    others_after_announcement: list[str]


def load_eval(language: str, directory: Path = BLIND_DIR) -> EvalSet:
    data = tomllib.loads((directory / f"{language}.toml").read_text(encoding="utf-8"))
    return EvalSet(list(data["objections"]), list(data["non_objections"]),
                   list(data.get("objections_after_announcement", [])),
                   list(data.get("non_objections_after_announcement", [])))


def announced_just_now(guard: ConsentGuard) -> float:
    """Put the guard just after the assistant announced itself; returns when to say the next text."""
    guard.context.bot_speaking(0.0, 0.0)
    return JUST_AFTER_S


def typed(
    guard: ConsentGuard, objections: list[str], others: list[str], after_announcement: bool = False
) -> tuple[Counts, Counts]:
    at_s = announced_just_now(guard) if after_announcement else None
    ours, naive = Counts(len(objections), 0, len(others)), Counts(len(objections), 0, len(others))
    for text in objections:
        event = guard.on_text(SPEAKER, text, at_s)
        ours.caught += event is not None and event.action == "objection"
        ours.asked += event is not None and event.action == "ask"
        naive.caught += bool(NAIVE_KEYWORDS.search(normalize(text)))
    for text in others:
        event = guard.on_text(SPEAKER, text, at_s)
        ours.false_stops += event is not None and event.action == "objection"
        ours.asked_others += event is not None and event.action == "ask"
        naive.false_stops += bool(NAIVE_KEYWORDS.search(normalize(text)))
    return ours, naive


def clinical_turns(split: str = HELD_OUT_SPLIT) -> list[str]:
    """Every turn of the ACI-BENCH dialogues of a split (English doctor-patient talk), or [] where the
    data is absent. The hard negatives the head learns were mined from the training split
    (bot/consent/mined.py), so false stops are measured on the validation split."""
    from bot.bench.notes import load_pairs

    try:
        pairs = load_pairs(split=split)
    except FileNotFoundError:
        return []
    return [line for pair in pairs for line in dialogue_lines(pair.dialogue)]


async def spoken(
    guard: ConsentGuard, engine: TranscriptionEngine, settings: Settings, language: str,
    objections: list[str], others: list[str], progress: Progress,
) -> Counts:
    announcements = load_announcements(settings.paths.announcements_dir, language)
    counts = Counts(len(objections), 0, len(others))
    task = progress.add_task(f"spoken {language}", total=len(objections) + len(others))
    for text, is_objection in [(t, True) for t in objections] + [(t, False) for t in others]:
        samples, rate_hz = render_speech(text, announcements.voice, announcements.words_per_minute)
        result = await check_audio(guard, engine, settings, samples, rate_hz)
        if is_objection and result.objection:
            counts.caught += 1
            if result.decision_s is not None:
                counts.latencies_s.append(result.decision_s)
        elif not is_objection and result.objection:
            counts.false_stops += 1
        elif result.would_ask:  # a call would have asked the speaker instead
            counts.asked += is_objection
            counts.asked_others += not is_objection
        progress.advance(task)
        done = progress.tasks[task].completed
        if done % 20 == 0 or done == len(objections) + len(others):  # also seen where output is not a terminal
            progress.console.print(f"spoken {language}: {done:.0f}/{len(objections) + len(others)}")
    return counts


def _sayable(texts: list[str]) -> list[str]:
    return [t for t in texts if len(normalize(t).split()) <= SPOKEN_MAX_WORDS]


async def run_consent_bench(
    settings: Settings, languages: list[str], spoken_objections: int, spoken_others: int, seed: int = 7
) -> dict[str, Any]:
    engine = TranscriptionEngine(settings.transcription, settings.paths.cache_dir) if spoken_objections or spoken_others else None
    rows: dict[str, Any] = {}
    sampler = random.Random(seed)
    with Progress() as progress:
        progress.console.print(f"cross-validating on the examples ({CV_FOLDS} folds, head {settings.consent.semantic_head})…")
        task = progress.add_task("cross-validating on the examples", total=None)
        examples = cross_validated(settings)
        after_announcement = after_announcement_cross_validated(settings)
        progress.update(task, total=1, completed=1)
        turns, dialogues = clinical_turns(), aci_dialogues(HELD_OUT_SPLIT)
        mined_from = aci_dialogues(MINED_SPLIT)
        replayed: dict[str, Any] = {}
        for language in languages:
            progress.console.print(f"{language}: typed blind set" + (", then spoken" if engine is not None else ""))
            blind = load_eval(language)
            objections, others = blind.objections, blind.others
            row: dict[str, Any] = {}
            for sensitivity in ("cautious", "balanced"):
                consent = settings.consent.model_copy(update={"objection_sensitivity": sensitivity})
                guard = ConsentGuard(consent, settings.paths.announcements_dir, language)
                guard.warm()
                ours, naive = typed(guard, objections, others)
                row[f"typed_blind_{sensitivity}"] = ours.summary()
                if sensitivity == "cautious":
                    rules_only = ConsentGuard(consent.model_copy(update={"semantic_signal": False}),
                                              settings.paths.announcements_dir, language)
                    row["typed_blind_cautious_rules_only"] = typed(rules_only, objections, others)[0].summary()
                    # The detector as issue 17 found it: the logistic regression, only for utterances naming a
                    # target, never second-guessing a rule (trained on today's examples).
                    as_found = ConsentGuard(consent.model_copy(update={
                        "semantic_head": "logistic", "untargeted_threshold": 1.0, "ask_instead_below": 0.0}),
                        settings.paths.announcements_dir, language)
                    row["typed_blind_cautious_as_found_baseline"] = typed(as_found, objections, others)[0].summary()
                    row["typed_blind_naive_keyword_baseline"] = naive.summary()
                    clean_only = ConsentGuard(consent.model_copy(update={"learn_heard_versions": False}),
                                              settings.paths.announcements_dir, language)
                    clean_only.warm(wait=True)
                    row["typed_blind_cautious_without_heard_versions_baseline"] = typed(
                        clean_only, objections, others)[0].summary()
                    unmined = ConsentGuard(consent.model_copy(update={"learn_mined_negatives": False}),
                                           settings.paths.announcements_dir, language)
                    unmined.warm(wait=True)
                    row["typed_blind_cautious_without_mined_negatives_baseline"] = typed(
                        unmined, objections, others)[0].summary()
                    if blind.objections_after_announcement:
                        after = ConsentGuard(consent, settings.paths.announcements_dir, language)
                        ours_after, naive_after = typed(after, blind.objections_after_announcement,
                                                        blind.others_after_announcement, after_announcement=True)
                        row["typed_blind_after_announcement_cautious"] = ours_after.summary()
                        row["typed_blind_after_announcement_naive_keyword_baseline"] = naive_after.summary()
                        # Without the semantic signal the hand-written deictic rules decide: how it was before.
                        rules_after = ConsentGuard(consent.model_copy(update={"semantic_signal": False}),
                                                   settings.paths.announcements_dir, language)
                        row["typed_blind_after_announcement_rules_only"] = typed(
                            rules_after, blind.objections_after_announcement, blind.others_after_announcement,
                            after_announcement=True)[0].summary()
                    for threshold in BLIND_THRESHOLDS:  # the effect of the trade-off setting
                        other = ConsentGuard(consent.model_copy(update={"semantic_threshold": threshold}),
                                             settings.paths.announcements_dir, language)
                        row[f"typed_blind_cautious_threshold_{threshold}"] = typed(other, objections, others)[0].summary()
                    if language == "en" and turns:
                        clinical, naive_clinical = typed(guard, [], turns)
                        row["typed_clinical_dialogue_cautious"] = clinical.summary()
                        row["typed_clinical_dialogue_naive_keyword_baseline"] = naive_clinical.summary()
                        row["typed_clinical_dialogue_without_mined_negatives_baseline"] = typed(
                            unmined, [], turns)[0].summary()
                    if language == "en" and dialogues:
                        replayed = {"after_announcement": replay(guard, dialogues, announce=True).summary(),
                                    "without_announcement_baseline": replay(guard, dialogues, announce=False).summary(),
                                    "without_mined_negatives_baseline": replay(unmined, dialogues,
                                                                               announce=True).summary(),
                                    "naive_keyword_baseline": keyword_replay(
                                        dialogues, NAIVE_KEYWORDS.search, consent.context_s).summary()}
                        if mined_from:  # not held out: the hard negatives come from these dialogues
                            replayed["training_split_mined_from"] = replay(guard, mined_from, announce=True).summary()
                            replayed["training_split_without_mined_negatives_baseline"] = replay(
                                unmined, mined_from, announce=True).summary()
            if engine is not None:
                guard = ConsentGuard(settings.consent, settings.paths.announcements_dir, language)
                guard.warm()
                sayable_objections, sayable_others = _sayable(objections), _sayable(others)
                picked_objections = sampler.sample(sayable_objections, min(spoken_objections, len(sayable_objections)))
                picked_others = sampler.sample(sayable_others, min(spoken_others, len(sayable_others)))
                # Each run keeps its beam for every final: a partial or early decode at work must not
                # turn the beam under test into greedy (the load policy's fallback, for calls).
                beam = settings.transcription.beam_size
                with engine.load.pinned(beam):
                    counts = await spoken(guard, engine, settings, language, picked_objections, picked_others, progress)
                    row[f"spoken_blind_{settings.consent.objection_sensitivity}"] = counts.summary()
                    # Baseline: the same items and detector, without priming the recognizer.
                    unprimed = settings.model_copy(update={
                        "transcription": settings.transcription.model_copy(update={"consent_prompt": False})})
                    counts = await spoken(guard, engine, unprimed, language, picked_objections, picked_others, progress)
                    row["spoken_blind_without_asr_prompt_baseline"] = counts.summary()
                    # Baseline: the same, with a head that learned the typed examples alone.
                    clean_only = ConsentGuard(settings.consent.model_copy(update={"learn_heard_versions": False}),
                                              settings.paths.announcements_dir, language)
                    clean_only.warm(wait=True)
                    counts = await spoken(clean_only, engine, settings, language, picked_objections, picked_others,
                                          progress)
                    row["spoken_blind_without_heard_versions_baseline"] = counts.summary()
                if beam > 1:  # baseline: the same, with finals decoded greedily
                    with engine.load.pinned(1):
                        counts = await spoken(guard, engine, settings, language, picked_objections, picked_others, progress)
                    row["spoken_blind_finals_greedy_baseline"] = counts.summary()
            rows[language] = row
    if engine is not None:
        engine.close()
    return {
        "model": settings.transcription.model,
        "sensitivity_in_calls": settings.consent.objection_sensitivity,
        "semantic_threshold": settings.consent.semantic_threshold,
        "examples_cross_validated": examples,
        "after_announcement_cross_validated": after_announcement,
        "clinical_dialogues_replayed": replayed,
        "languages": rows,
    }


def run(settings: Settings, languages: list[str], spoken_objections: int, spoken_others: int) -> dict[str, Any]:
    return asyncio.run(run_consent_bench(settings, languages, spoken_objections, spoken_others))


def available_languages() -> list[str]:
    return sorted(p.stem for p in BLIND_DIR.glob("*.toml"))
