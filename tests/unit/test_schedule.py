"""The schedule file: sessions, per-session settings over the base, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.service.schedule import load_schedule

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "schedule.example.toml"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "schedule.toml"
    path.write_text(f'[service]\nnotes_root = "{tmp_path / "notes"}"\n' + body)
    return path


SESSION = '''
[[sessions]]
id = "s1"
link = "http://127.0.0.1:1/room/r?token=t"
start = 2026-11-24T15:00:00+01:00
end = 2026-11-24T15:50:00+01:00
clinician = "rivera"
'''


def test_the_documented_example_loads_and_applies_its_overrides(make_settings) -> None:
    schedule = load_schedule(EXAMPLE, make_settings())
    [session] = schedule.sessions.values()
    assert session.settings.session.language == "es" and session.settings.session.note_template == "soap"
    assert session.settings.consent.mode == "written" and session.settings.consent.purposes == ["notes", "risk_flags"]


def test_session_settings_are_the_base_with_overrides_and_a_clinician_directory(tmp_path, make_settings) -> None:
    base = make_settings(vad={"hangover_ms": 700})
    path = write(tmp_path, SESSION + '[sessions.settings.session]\nlanguage = "pt"\n')
    session = load_schedule(path, base).sessions["s1"]
    assert session.settings.session.language == "pt"
    assert session.settings.vad.hangover_ms == 700  # from the base
    assert session.settings.paths.output_dir == tmp_path / "notes" / "rivera"
    assert session.settings.journal.directory == base.journal.directory / "rivera"
    assert session.start.utcoffset().total_seconds() == 0 and session.start.hour == 14


@pytest.mark.parametrize(("extra", "named"), [
    ('[sessions.settings.consent]\nmode = "maybe"\n', "consent.mode: bad value 'maybe'"),
    ('[sessions.settings.session]\nlanguag = "es"\n', "session.languag: unknown key"),
    ('[sessions.settings.session]\nlanguage = "xx"\n', "session.language: unknown language 'xx'"),
    ('[sessions.settings.transcription]\nmodel = "base"\n', "transcription.model cannot be set per session"),
    ('[sessions.settings.journal]\nenabled = false\n', "journal cannot be set per session"),
])
def test_a_bad_session_override_names_the_session_key_and_fix(tmp_path, make_settings, extra, named) -> None:
    with pytest.raises(ConfigError) as error:
        load_schedule(write(tmp_path, SESSION + extra), make_settings())
    assert "session 's1'" in str(error.value) and named in str(error.value) and "Fix:" in str(error.value)


@pytest.mark.parametrize(("body", "named"), [
    (SESSION.replace("end = 2026-11-24T15:50", "end = 2026-11-24T14:50"), "end must be after start"),
    (SESSION.replace('"http://127.0.0.1:1/room/r?token=t"', '"zoom meeting"'), "link must be"),
    (SESSION.replace("token=t", "token=secret").replace("end = 2026-11-24T15:50", "end = 2026-11-24T14:50"),
     "sessions.0: end must be after start. Fix:"),
    (SESSION.replace("+01:00", ""), "sessions.0.start: bad value"),
    (SESSION + "colour = 1\n", "sessions.0.colour: unknown key"),
    ("[service]\nlead_s = -1\n", "service.lead_s: bad value -1"),
    ('[[sessions]]\nid = "x"\nlink = "http://h/room/r?token=secret"\n', "sessions.0.start: missing. Fix: add it."),
])
def test_a_bad_schedule_file_is_refused_with_the_key(tmp_path, make_settings, body, named) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match="Fix:") as error:
        load_schedule(path, make_settings())
    assert named in str(error.value) and "token=secret" not in str(error.value)


def test_a_missing_schedule_file_says_so(tmp_path, make_settings) -> None:
    with pytest.raises(ConfigError, match="no such schedule file"):
        load_schedule(tmp_path / "none.toml", make_settings())
