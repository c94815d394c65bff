from __future__ import annotations

from pathlib import Path

import pytest

from bot.audio.tts import render_speech
from bot.config import DEFAULT_ANNOUNCEMENTS_DIR, ConfigError
from bot.consent.announcements import load_announcements

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
