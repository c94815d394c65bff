"""Secret files: owner-only or refused, with the fix in the message; the environment wins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.secrets import read_secret_file, secret_from_env_or_file


def _secret(tmp_path: Path, mode: int, data: bytes = b"s3cret-value\n") -> Path:
    path = tmp_path / "secret"
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize(("mode", "readers"), [(0o644, "group and other users"), (0o640, "the group"),
                                               (0o604, "other users"), (0o666, "group and other users")])
def test_group_or_world_readable_secret_is_refused_with_the_fix(tmp_path: Path, mode: int, readers: str) -> None:
    path = _secret(tmp_path, mode)
    with pytest.raises(ConfigError) as caught:
        read_secret_file(path, "janus.token_file")
    message = str(caught.value)
    assert message.startswith(f"janus.token_file {path}: mode {mode:04o} lets {readers} read the secret.")
    assert message.endswith(f"Fix: chmod 600 {path}")


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_secret_is_read(tmp_path: Path, mode: int) -> None:
    assert read_secret_file(_secret(tmp_path, mode), "x") == b"s3cret-value\n"


def test_missing_file_names_the_setting_and_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"webhook.secret_file .*missing: no such file\. Fix: create it owner-only"):
        read_secret_file(tmp_path / "missing", "webhook.secret_file")


def test_symlink_and_directory_are_refused(tmp_path: Path) -> None:
    target = _secret(tmp_path, 0o600)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="not a symbolic link"):
        read_secret_file(link, "x")
    with pytest.raises(ConfigError, match="not a regular file"):
        read_secret_file(tmp_path, "x")


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="larger than 8 bytes"):
        read_secret_file(_secret(tmp_path, 0o600, b"123456789"), "x", max_bytes=8)


def test_environment_wins_over_file_and_file_loses_its_line_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _secret(tmp_path, 0o600)
    monkeypatch.delenv("SB_TEST_SECRET", raising=False)
    assert secret_from_env_or_file("SB_TEST_SECRET", path, "x") == b"s3cret-value"
    assert secret_from_env_or_file("SB_TEST_SECRET", None, "x") is None
    monkeypatch.setenv("SB_TEST_SECRET", "from-env")
    assert secret_from_env_or_file("SB_TEST_SECRET", _secret(tmp_path, 0o644), "x") == b"from-env"


def test_journal_key_file_uses_the_same_check(tmp_path: Path) -> None:
    from bot.transcribe.journal import generate_key, load_journal_key

    path = _secret(tmp_path, 0o644, generate_key().encode())
    with pytest.raises(ConfigError, match=r"journal key file .*mode 0644 lets group and other users read"):
        load_journal_key(env_var="SB_TEST_UNSET_KEY", key_file=path)
    os.chmod(path, 0o600)
    assert len(load_journal_key(env_var="SB_TEST_UNSET_KEY", key_file=path)) == 32


def test_webhook_key_file_uses_the_same_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.service.delivery import SECRET_ENV, load_webhook_secret
    from bot.service.schedule import WebhookSettings

    monkeypatch.delenv(SECRET_ENV, raising=False)
    path = _secret(tmp_path, 0o644, b"0123456789abcdef0123456789abcdef\n")
    settings = WebhookSettings(url="http://127.0.0.1:9/notes", secret_file=path)
    with pytest.raises(ConfigError, match=r"webhook.secret_file .*mode 0644 lets group and other users read"):
        load_webhook_secret(settings)
    os.chmod(path, 0o600)
    assert load_webhook_secret(settings) == b"0123456789abcdef0123456789abcdef"
    path.write_bytes(b"short\n")
    with pytest.raises(ConfigError, match="shorter than 16 bytes"):
        load_webhook_secret(settings)
