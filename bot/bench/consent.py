"""`sessionbot bench consent`: recall of objections, false-stop rate and objection-to-stop
latency per language, typed and spoken.

The development set (announcements/examples/<lang>.toml) was used to tune the rules
and is the example set of the semantic signal, so on it only the rules are measured
(`typed_<sensitivity>`); the held-out sets were written blind to both and measure the
whole detector (`typed_<set>_<sensitivity>`), next to the rules alone
(`typed_<set>_cautious_rules_only`), which shows what the semantic signal buys:
tests/consent_eval/holdout/ (ordinary objections and therapy talk) and
tests/consent_eval/mentions/ (talk that mentions the assistant without objecting, and
objections phrased as questions). Spoken items are rendered with the language's espeak-ng voice and go through the
in-call path (VAD → shared faster-whisper engine → ConsentGuard). Two baselines
run in the same process on the same items: for typed text, a naive keyword
matcher (any of stop / record / AI / bot / transcri… anywhere), which shows what
intent and negation handling buys; for speech, the same path without the
recognizer prompt (`asr_prompt`), which shows what priming buys.
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
from bot.bench.stats import percentile, rate
from bot.config import REPO_ROOT, Settings
from bot.consent.announcements import load_announcements
from bot.consent.check import check_audio
from bot.consent.guard import ConsentGuard
from bot.consent.objection import normalize
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.segment import Participant

EVAL_DIR = REPO_ROOT / "announcements" / "examples"
HOLDOUT_DIR = REPO_ROOT / "tests" / "consent_eval" / "holdout"
# Written blind later: neutral mentions of the assistant, and objections phrased as questions.
MENTIONS_DIR = REPO_ROOT / "tests" / "consent_eval" / "mentions"
NAIVE_KEYWORDS = re.compile(
    r"\b(stop|stopp|para|pare|basta|arrête|record\w*|grab\w*|grav\w*|enregistr\w*|aufnahm\w*|aufzeichn\w*|registr\w*"
    r"|transcri\w*|ai|ia|ki|bot|robot|assistant\w*|asistente|assistente)\b"
)
SPEAKER = Participant("bench", "participant", "client")


@dataclass
class Counts:
    objections: int = 0
    caught: int = 0
    non_objections: int = 0
    false_stops: int = 0
    latencies_s: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "objections": self.objections,
            "recall": rate(self.caught, self.objections),
            "non_objections": self.non_objections,
            "false_stop_rate": rate(self.false_stops, self.non_objections),
            "latency_median_s": percentile(self.latencies_s, 50),
            "latency_p95_s": percentile(self.latencies_s, 95),
        }


def load_eval(language: str, directory: Path = EVAL_DIR) -> tuple[list[str], list[str]]:
    data = tomllib.loads((directory / f"{language}.toml").read_text(encoding="utf-8"))
    return list(data["objections"]), list(data["non_objections"])


def typed(guard: ConsentGuard, objections: list[str], others: list[str]) -> tuple[Counts, Counts]:
    ours, naive = Counts(len(objections), 0, len(others)), Counts(len(objections), 0, len(others))
    for text in objections:
        ours.caught += guard.on_text(SPEAKER, text) is not None
        naive.caught += bool(NAIVE_KEYWORDS.search(normalize(text)))
    for text in others:
        ours.false_stops += guard.on_text(SPEAKER, text) is not None
        naive.false_stops += bool(NAIVE_KEYWORDS.search(normalize(text)))
    return ours, naive


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
        progress.advance(task)
    return counts


async def run_consent_bench(
    settings: Settings, languages: list[str], spoken_objections: int, spoken_others: int, seed: int = 7
) -> dict[str, Any]:
    engine = TranscriptionEngine(settings.transcription, settings.paths.cache_dir) if spoken_objections or spoken_others else None
    rows: dict[str, Any] = {}
    sampler = random.Random(seed)
    with Progress() as progress:
        for language in languages:
            objections, others = load_eval(language)
            row: dict[str, Any] = {}
            for sensitivity in ("cautious", "balanced"):
                consent = settings.consent.model_copy(update={"objection_sensitivity": sensitivity})
                rules_only = ConsentGuard(
                    consent.model_copy(update={"semantic_signal": False}), settings.paths.announcements_dir, language
                )
                ours, naive = typed(rules_only, objections, others)
                row[f"typed_{sensitivity}"] = ours.summary()
                if sensitivity == "cautious":
                    row["typed_naive_keyword_baseline"] = naive.summary()
                guard = ConsentGuard(consent, settings.paths.announcements_dir, language)
                guard.warm()
                for name, directory in (("holdout", HOLDOUT_DIR), ("mentions", MENTIONS_DIR)):
                    if not (directory / f"{language}.toml").is_file():
                        continue
                    # Written blind to the rules and examples, never used to tune them.
                    held, _ = typed(guard, *load_eval(language, directory))
                    row[f"typed_{name}_{sensitivity}"] = held.summary()
                    if sensitivity == "cautious":
                        held, _ = typed(rules_only, *load_eval(language, directory))
                        row[f"typed_{name}_cautious_rules_only"] = held.summary()
            if engine is not None:
                guard = ConsentGuard(settings.consent, settings.paths.announcements_dir, language)
                guard.warm()
                picked_objections = sampler.sample(objections, min(spoken_objections, len(objections)))
                picked_others = sampler.sample(others, min(spoken_others, len(others)))
                counts = await spoken(guard, engine, settings, language, picked_objections, picked_others, progress)
                row[f"spoken_{settings.consent.objection_sensitivity}"] = counts.summary()
                # Baseline: the same items and detector, without priming the recognizer.
                unprimed = settings.model_copy(update={
                    "transcription": settings.transcription.model_copy(update={"consent_prompt": False})})
                counts = await spoken(guard, engine, unprimed, language, picked_objections, picked_others, progress)
                row["spoken_without_asr_prompt_baseline"] = counts.summary()
            rows[language] = row
    if engine is not None:
        engine.close()
    return {
        "model": settings.transcription.model,
        "sensitivity_in_calls": settings.consent.objection_sensitivity,
        "languages": rows,
    }


def run(settings: Settings, languages: list[str], spoken_objections: int, spoken_others: int) -> dict[str, Any]:
    return asyncio.run(run_consent_bench(settings, languages, spoken_objections, spoken_others))


def available_languages() -> list[str]:
    return sorted(p.stem for p in Path(EVAL_DIR).glob("*.toml"))
