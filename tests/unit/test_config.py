from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(text)
    return path


def test_no_file_gives_working_defaults() -> None:
    settings = load_settings(None)
    assert settings.session.language == "en"
    assert settings.transcription.model == "base"
    assert settings.ice.stun_servers == []  # nothing leaves the machine unless configured


def test_malformed_toml_names_the_line_and_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "[session]\nlanguage = es\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert str(path) in message and "not valid TOML" in message and "line 2" in message
    assert "Fix:" in message


def test_unknown_key_is_an_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "[transcription]\nmodle = 'base'\n"))
    assert "transcription.modle: unknown key" in str(info.value)


def test_bad_value_names_key_value_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "[vad]\naggressiveness = 7\n"))
    message = str(info.value)
    assert "vad.aggressiveness" in message and "7" in message and "Fix:" in message


def test_unknown_language_lists_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "[session]\nlanguage = 'xx'\n"))
    message = str(info.value)
    assert "session.language" in message and "'xx'" in message and "en" in message and "es" in message


def test_command_line_override_is_validated_too() -> None:
    with pytest.raises(ConfigError, match="session.language"):
        load_settings(None, {"session.language": "klingon"})


def test_cli_reports_a_config_error_without_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "[bot\ndisplay_name = 'x'\n")
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "join", "http://127.0.0.1:9/room/x?token=t", "--config", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "configuration error" in done.stderr and "not valid TOML" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_rejects_an_unknown_language_with_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "join", "http://127.0.0.1:9/room/x?token=t", "--language", "xx"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "unknown language 'xx'" in done.stderr


def test_the_documented_example_config_loads_and_states_every_default() -> None:
    """config/sessionbot.example.toml is what operators copy: it must load, and each value it
    shows must be the real default (a stale example misleads)."""
    import tomllib

    from bot.config import REPO_ROOT, Settings

    example = REPO_ROOT / "config" / "sessionbot.example.toml"
    load_settings(example)
    defaults = Settings().model_dump()
    for section, values in tomllib.loads(example.read_text(encoding="utf-8")).items():
        for key, value in values.items():
            default = defaults[section][key]
            shown = str(default) if isinstance(default, Path) else default
            assert value == shown or (isinstance(default, Path) and Path(value).expanduser() == default), (section, key)
