from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.resources import RISK_DIR
from bot.notes.risk import RiskFlagger, load_lexicon
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.segment import Participant

CASES = [
    ("en", "Some nights I think about ending it all.", "suicidal_ideation"),
    ("en", "I started cutting my arms again last month.", "self_harm"),
    ("en", "My husband hits me when he drinks.", "abuse_or_violence"),
    ("en", "I drove drunk after the party on Friday.", "substance_risk"),
    ("en", "Sometimes I want to hurt my boss.", "harm_to_others"),
    ("en", "We went hiking and it was lovely.", None),
    ("en", "I cut my hair short last week.", None),
    ("es", "A veces pienso en matarme.", "suicidal_ideation"),
    ("es", "Mi pareja me pega cuando bebe.", "abuse_or_violence"),
    ("es", "Fuimos a la playa con mis hijos.", None),
]


@pytest.mark.parametrize("language, text, category", CASES)
def test_the_lexicon_flags_by_category_with_the_verbatim_quote(language: str, text: str, category: str | None) -> None:
    buffer = TranscriptBuffer("s")
    buffer.append(Participant("p2", "Sam", "client"), 10.0, 13.0, text, language, 0.9)
    flags = RiskFlagger(RISK_DIR, semantic=False).flags(buffer.segments(), language)
    if category is None:
        assert flags == []
    else:
        [flag] = flags
        assert (flag.category, flag.quote, flag.speaker, flag.start) == (category, text, "Sam", 10.0)
        assert "mentioned" in flag.label.lower() or "mencionad" in flag.label.lower()


def test_a_broken_lexicon_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "xx.toml").write_text('[categories.a]\nlabel = "A"\npatterns = ["(bad"]\n')
    with pytest.raises(ConfigError, match="xx.toml"):
        load_lexicon(tmp_path, "xx")


def test_a_language_without_lexicon_falls_back_to_english() -> None:
    buffer = TranscriptBuffer("s")
    buffer.append(Participant("p2", "Sam", "client"), 1.0, 2.0, "I want to kill myself.", "xx", 0.9)
    flags = RiskFlagger(RISK_DIR, semantic=False).flags(buffer.segments(), "xx")
    assert [(f.category, f.signal) for f in flags] == [("suicidal_ideation", "lexicon")]
