"""Fixtures for sessions over real WebRTC on 127.0.0.1 with a real speech model (tiny.en, for speed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from bot.call.base import AudioTrackReceived, CallEnded, TextReceived
from bot.call.ice import use_host_addresses
from bot.call.room import RoomConnector
from bot.call.room_server import RoomServer
from bot.transcribe.engine import TranscriptionEngine


@pytest.fixture(scope="session")
def engine() -> Iterator[TranscriptionEngine]:
    from bot.config import load_settings

    settings = load_settings(None, {"transcription.model": "tiny.en"})
    loaded = TranscriptionEngine(settings.transcription, settings.paths.cache_dir)
    yield loaded
    loaded.close()


@pytest.fixture
async def room() -> AsyncIterator[RoomServer]:
    use_host_addresses(["127.0.0.1"])
    async with RoomServer({"r": "tok"}, port=0) as server:
        yield server


async def drain(
    connector: RoomConnector, on_bot_audio: Callable[[object], None] | None = None, texts: list[str] | None = None
) -> None:
    """A participant must read what it receives, as a real client does."""
    async for event in connector.events():
        if isinstance(event, TextReceived) and texts is not None:
            texts.append(event.text)
        if isinstance(event, AudioTrackReceived):
            callback = on_bot_audio if event.participant.role == "bot" else None
            asyncio.ensure_future(_read(event.track, callback))
        if isinstance(event, CallEnded):
            return


async def _read(track, callback) -> None:
    try:
        while True:
            frame = await track.recv()
            if callback is not None:
                callback(frame)
    except Exception:  # noqa: BLE001 - the track ended
        return


# Joining renders the bot's speech with espeak-ng first: seconds when idle, but a machine busy with
# disk and CPU (a package install beside the suite) once held a session in "joining" past 30 s.
JOIN_WAIT_S = 90.0


async def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)
