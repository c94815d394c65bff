"""A scheduled session whose join is refused (wrong room token, real room server on 127.0.0.1) is retried
with doubling backoff until its window closes, and the clinician's directory says what happened at
each attempt; a session refused by its consent mode is not retried. Both run in one service."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.service.runner import ScheduleService
from tests.e2e.service_helpers import session_toml, states, window, write_config, write_schedule
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.slow


async def test_refused_join_is_retried_until_the_window_closes_and_recorded(tmp_path: Path, room) -> None:
    base = load_settings(write_config(tmp_path))
    bot_link = room.link("r", role="clinician")
    wrong_token = bot_link.link.replace(f"token={bot_link.token}", "token=wrong")
    start, end = window(0, 6)
    declined = session_toml("declined", bot_link.link, "lee", start, end)
    schedule = write_schedule(tmp_path, [
        session_toml("refused", wrong_token, "rivera", start, end),
        declined + '[sessions.settings.consent]\nmode = "declined"\n',
    ])
    service = ScheduleService(base, schedule, os.urandom(32))
    running = asyncio.ensure_future(service.run())
    try:
        await wait_for(lambda: states(tmp_path).get("refused") == "failed", timeout=60)
    finally:
        service.request_stop("test over")
        assert await asyncio.wait_for(running, 30) == 0
    refused = service.status.sessions["refused"]
    # Waits of 0.5, 1, 2 s fit in the 5-6 s window (start is rounded down to the second); 4 more would not.
    assert 3 <= refused.attempts <= 4 and refused.outcome.startswith(f"could not join after {refused.attempts}")
    [record] = list((tmp_path / "notes" / "rivera").glob("*.not-joined.md"))
    text = record.read_text()
    assert text.count("unknown room or wrong join token") == refused.attempts
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    assert service.status.sessions["declined"].attempts == 1  # consent refusal: never retried
    assert service.status.sessions["declined"].outcome.startswith("not joined")
