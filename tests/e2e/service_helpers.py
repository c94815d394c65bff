"""Shared by the `sessionbot run` end-to-end tests: config and schedule files, the state file, RSS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(
        '[transcription]\nmodel = "tiny.en"\n[ice]\nhost_addresses = ["127.0.0.1"]\n'
        "[leave]\neveryone_left_grace_s = 1.0\nnobody_joined_timeout_s = 60.0\nscheduled_end_grace_s = 0.0\n"
        f'[journal]\ndirectory = "{tmp_path / "journal"}"\n[logging]\nfile = "{tmp_path / "service.jsonl"}"\n'
    )
    return path


def session_toml(key: str, link: str, clinician: str, start: datetime, end: datetime, cancelled: bool = False) -> str:
    return (f'[[sessions]]\nid = "{key}"\nlink = "{link}"\nclinician = "{clinician}"\n'
            f"start = {start.isoformat()}\nend = {end.isoformat()}\ncancelled = {str(cancelled).lower()}\n")


def write_schedule(tmp_path: Path, sessions: list[str]) -> Path:
    path = tmp_path / "schedule.toml"
    text = ('[service]\nlead_s = 0\ntick_s = 0.2\nreload_s = 0.5\njoin_retry_initial_s = 0.5\n'
            f'notes_root = "{tmp_path / "notes"}"\nstate_file = "{tmp_path / "state" / "service.json"}"\n'
            + "".join(sessions))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # the service must never read half a file
    return path


def window(start_in_s: float, length_s: float) -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=start_in_s)
    return start, start + timedelta(seconds=length_s)


def states(tmp_path: Path) -> dict[str, str]:
    try:
        data = json.loads((tmp_path / "state" / "service.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {s["key"]: s["state"] for s in data["sessions"]}


def log_text(tmp_path: Path) -> str:
    path = tmp_path / "service.jsonl"
    return path.read_text() if path.exists() else ""


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1e6
