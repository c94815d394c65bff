"""A clinician's overrides directory is searched first, per file, before the packaged data."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import resources
from bot.config import ConfigError, Settings, load_settings
from bot.consent.announcements import load_announcements
from bot.notes.risk import load_lexicon
from bot.notes.templates import available_templates, load_template
from bot.resources import ANNOUNCEMENTS_DIR, RISK_DIR, TEMPLATES_DIR


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(resources.OVERRIDES_ENV, raising=False)
    monkeypatch.setattr(resources, "_configured", None)


def _copy(kind: str, name: str, root: Path, edit: tuple[str, str]) -> None:
    text = (resources.packaged(kind) / name).read_text(encoding="utf-8")
    assert edit[0] in text
    (root / kind).mkdir(parents=True, exist_ok=True)
    (root / kind / name).write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")


def test_packaged_data_is_found_without_overrides() -> None:
    assert load_announcements(ANNOUNCEMENTS_DIR, "es").language == "es"
    assert "soap" in available_templates(TEMPLATES_DIR)
    assert load_lexicon(RISK_DIR, "en")


def test_override_wins_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packaged_es = load_announcements(ANNOUNCEMENTS_DIR, "es")
    packaged_fr = load_announcements(ANNOUNCEMENTS_DIR, "fr")
    text = (ANNOUNCEMENTS_DIR / "es.toml").read_text(encoding="utf-8")
    (tmp_path / "announcements").mkdir()
    (tmp_path / "announcements" / "es.toml").write_text(
        text.replace('language = "es"', 'language = "es"\n# clinic copy', 1), encoding="utf-8")
    monkeypatch.setenv(resources.OVERRIDES_ENV, str(tmp_path))
    assert resources.lookup(ANNOUNCEMENTS_DIR, "es.toml") == tmp_path / "announcements" / "es.toml"
    assert resources.lookup(ANNOUNCEMENTS_DIR, "fr.toml") == ANNOUNCEMENTS_DIR / "fr.toml"
    assert load_announcements(ANNOUNCEMENTS_DIR, "es") == packaged_es
    assert load_announcements(ANNOUNCEMENTS_DIR, "fr") == packaged_fr


def test_configured_overrides_dir_changes_a_template(tmp_path: Path) -> None:
    packaged = load_template("soap", "en", TEMPLATES_DIR)
    first = packaged.sections[0].title
    _copy("templates", "soap.en.toml", tmp_path, (f'"{first}"', '"Clinic heading"'))
    config = tmp_path / "sessionbot.toml"
    config.write_text(f'[paths]\noverrides_dir = "{tmp_path}"\n', encoding="utf-8")
    settings = load_settings(config)
    assert settings.paths.overrides_dir == tmp_path
    assert load_template("soap", "en", settings.paths.templates_dir).sections[0].title == "Clinic heading"
    Settings()  # settings without the key turn the overrides off again
    assert load_template("soap", "en", TEMPLATES_DIR).sections[0].title == first


def test_new_language_in_overrides_is_available(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ANNOUNCEMENTS_DIR / "en.toml").read_text(encoding="utf-8")
    (tmp_path / "announcements").mkdir()
    (tmp_path / "announcements" / "nl.toml").write_text(text.replace('language = "en"', 'language = "nl"', 1),
                                                        encoding="utf-8")
    monkeypatch.setenv(resources.OVERRIDES_ENV, str(tmp_path))
    assert "nl" in Settings().available_languages()
    assert load_announcements(ANNOUNCEMENTS_DIR, "nl").language == "nl"


def test_bad_overrides_dir_names_the_key_and_fix(tmp_path: Path) -> None:
    config = tmp_path / "sessionbot.toml"
    config.write_text(f'[paths]\noverrides_dir = "{tmp_path / "missing"}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"paths\.overrides_dir.*not a directory.*Fix: create it"):
        load_settings(config)


def test_missing_language_hint_points_to_overrides_dir() -> None:
    with pytest.raises(ConfigError, match=r"announcements/xx\.toml to paths\.overrides_dir"):
        load_announcements(ANNOUNCEMENTS_DIR, "xx")


def test_broken_override_is_reported_with_its_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "risk").mkdir()
    (tmp_path / "risk" / "en.toml").write_text("categories = 3\n", encoding="utf-8")
    monkeypatch.setenv(resources.OVERRIDES_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match=r"risk/en\.toml: not a valid risk lexicon.*packaged risk/en\.toml"):
        load_lexicon(RISK_DIR, "en")
