"""The calls `sessionbot bench asr` plays: different real recordings per session, staggered, with
varied pauses, for minutes — not every session reading the same clips in lockstep.

Each session has a language (half of them English, the rest rotating through es, de, fr, it, pt)
and two speakers who take turns. English sessions read the LJ Speech clips, starting at a different
clip per session; the others read the real multilingual recordings of their language. Pauses
between turns are drawn from PAUSE_RANGE_S and each session starts at its own offset, from a seed,
so utterances end at scattered moments as in a clinic, not all at once. Audio is cut from the clips
as it is played, so a long run holds no more than the clips in memory.

`lockstep=True` gives every session the same script at the same moment: the worst case (every
utterance of every session ends at the same instant), labelled as such where it is reported.
"""

from __future__ import annotations

import bisect
import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.audio.pcm import ASR_RATE, load_audio
from bot.config import REPO_ROOT

PAUSE_RANGE_S = (0.4, 3.0)
MAX_START_OFFSET_S = 12.0
OTHER_LANGUAGES = ("es", "de", "fr", "it", "pt")


def data_dir() -> Path:
    return Path(os.environ.get("SESSIONBOT_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray  # int16, 16 kHz
    reference: str
    language: str


def lj_speech_clips() -> list[Clip]:
    speech = data_dir() / "speech"
    clips = []
    for line in (speech / "transcripts.txt").read_text(encoding="utf-8").splitlines():
        clip_id, _, reference = line.partition("|")
        if clip_id:
            clips.append(Clip(load_audio(str(speech / f"{clip_id}.wav")), reference, "en"))
    return clips


def multilingual_clips() -> dict[str, list[Clip]]:
    folder = data_dir() / "speech-multilingual"
    clips: dict[str, list[Clip]] = {}
    with (folder / "transcripts.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            clips.setdefault(row["language"], []).append(
                Clip(load_audio(str(folder / row["file"])), row["transcript"], row["language"]))
    return clips


def clip_pool() -> dict[str, list[Clip]]:
    """Recordings by language: LJ Speech for English, the multilingual set for the others."""
    pool = {"en": lj_speech_clips()}
    for language, clips in multilingual_clips().items():
        if language != "en":
            pool[language] = clips
    return pool


@dataclass(frozen=True)
class Turn:
    start: int  # sample at which the clip starts playing
    speaker: int
    clip: Clip


class SessionAudio:
    """Two speakers' tracks for one session, cut on demand."""

    def __init__(self, language: str, turns: list[Turn], length: int) -> None:
        self.language = language
        self.turns = turns
        self.length = length
        self._starts = [t.start for t in turns]

    @property
    def seconds(self) -> float:
        return self.length / ASR_RATE

    @property
    def speech_seconds(self) -> float:
        return sum(t.clip.samples.size for t in self.turns) / ASR_RATE

    def chunk(self, speaker: int, start: int, size: int) -> np.ndarray:
        out = np.zeros(size, dtype=np.int16)
        first = max(0, bisect.bisect_right(self._starts, start) - 1)
        for turn in self.turns[first:]:
            if turn.start >= start + size:
                break
            if turn.speaker != speaker:
                continue
            lo, hi = max(start, turn.start), min(start + size, turn.start + turn.clip.samples.size)
            if lo < hi:
                out[lo - start : hi - start] = turn.clip.samples[lo - turn.start : hi - turn.start]
        return out

    def reference(self, speaker: int) -> str:
        return " ".join(t.clip.reference for t in self.turns if t.speaker == speaker)


def plan_sessions(pool: dict[str, list[Clip]], sessions: int, seconds: float, seed: int = 11,
                  lockstep: bool = False) -> list[SessionAudio]:
    others = [language for language in OTHER_LANGUAGES if pool.get(language)]
    planned = []
    for n in range(sessions):
        rng = np.random.default_rng(seed if lockstep else seed + n)
        language = "en" if lockstep or n % 2 == 0 or not others else others[(n // 2) % len(others)]
        deck = pool[language]
        position = 0 if lockstep else int(rng.uniform(0, MAX_START_OFFSET_S) * ASR_RATE)
        turns, index, speaker = [], 0 if lockstep else n, 0
        end = int(seconds * ASR_RATE)
        while position < end:
            clip = deck[index % len(deck)]
            turns.append(Turn(position, speaker, clip))
            position += clip.samples.size + int(rng.uniform(*PAUSE_RANGE_S) * ASR_RATE)
            index, speaker = index + 1, 1 - speaker
        planned.append(SessionAudio(language, turns, position))
    return planned
