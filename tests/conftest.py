"""Shared fixtures: where the real test data lives, and a private settings factory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import Settings, settings_from_mapping
from tests.requirements import check_marks, require

REPO = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("SESSIONBOT_DATA_DIR", REPO.parent / "shared" / "data"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(name, available, hint): a prerequisite (tests/requirements.py)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_marks(item)


@pytest.fixture(scope="session")
def speech_dir() -> Path:
    path = data_dir() / "speech"
    require("data", (path / "transcripts.txt").is_file(),
            f"real speech data not found at {path}; set SESSIONBOT_DATA_DIR to the shared data directory")
    return path


@pytest.fixture
def make_settings(tmp_path: Path):
    def factory(**sections: dict) -> Settings:
        data: dict = {
            "paths": {"output_dir": str(tmp_path / "notes"), "cache_dir": os.environ.get(
                "SESSIONBOT_CACHE_DIR", str(Path.home() / ".cache" / "sessionbot"))},
            "ice": {"host_addresses": ["127.0.0.1"]},
            "journal": {"directory": str(tmp_path / "journal")},
        }
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        return settings_from_mapping(data, "test settings")

    return factory
