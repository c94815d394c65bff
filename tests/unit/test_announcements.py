from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.audio.tts import render_speech
from bot.config import DEFAULT_ANNOUNCEMENTS_DIR, ConfigError, ConsentSettings
from bot.consent.announcements import load_announcements
from bot.consent.guard import ConsentGuard

LANGUAGES = sorted(p.stem for p in DEFAULT_ANNOUNCEMENTS_DIR.glob("*.toml"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_loads_and_its_voice_speaks(language: str) -> None:
    announcements = load_announcements(DEFAULT_ANNOUNCEMENTS_DIR, language)
    text = announcements.spoken_for("announcement", "Assistant")
    assert "Assistant" in text and "{" not in text
    samples, rate = render_speech(text, announcements.voice, announcements.words_per_minute)
    assert samples.size / rate > 8.0  # a full announcement takes several seconds to say


def test_english_announcement_says_what_the_consent_notes_require() -> None:
    text = load_announcements(DEFAULT_ANNOUNCEMENTS_DIR, "en").spoken_for("announcement", "X").lower()
    for phrase in ("ai assistant", "transcribing", "not recorded", "reviews", "at any time"):
        assert phrase in text


def test_a_broken_announcement_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "xx.toml").write_text('language = "xx"\nvoice = "en"\n[spoken]\nannouncement = "short"\n')
    with pytest.raises(ConfigError, match="xx.toml"):
        load_announcements(tmp_path, "xx")
    with pytest.raises(ConfigError, match="no announcements for 'yy'"):
        load_announcements(tmp_path, "yy")


def _prompt_pieces(prompt: str) -> list[str]:
    """The prompt, its sentences and its comma-separated fragments: what Whisper echoes."""
    pieces = [prompt] + re.split(r"[.;:!?]\s", prompt) + re.split(r"[.,;:!?]\s?", prompt)
    return list(dict.fromkeys(p.strip() for p in pieces if p.strip()))


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_piece_of_the_recognizer_prompt_is_an_objection(language: str) -> None:
    """On unclear audio Whisper returns its prompt: a prompt that words an objection stops the
    session for nothing. The whole detector (rules and semantic signal) on the prompt and its
    pieces, and the rules on every run of its words."""
    prompt = load_announcements(DEFAULT_ANNOUNCEMENTS_DIR, language).asr_prompt
    assert prompt, f"{language}: no asr_prompt"
    guard = ConsentGuard(ConsentSettings(), DEFAULT_ANNOUNCEMENTS_DIR, language)
    guard.warm()
    for piece in _prompt_pieces(prompt):
        decision = guard.detector.check(piece, language)
        assert not decision.objection, f"{language}: {piece!r} is an objection ({decision.rule})"
    words = prompt.split()
    for start in range(len(words)):
        for end in range(start + 1, len(words) + 1):
            run = " ".join(words[start:end])
            assert not guard.detector.check(run, language, semantic=False).objection, f"{language}: {run!r}"
