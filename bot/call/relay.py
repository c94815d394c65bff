"""An inbound audio track per participant, fed from whichever SFU stream carries them now.

An SFU recycles its media lines: one aiortc track may carry one participant,
then (after a leave and a rejoin) another. Transcription reads a RelayTrack per
participant instead, so attribution follows the SFU's stream map, not the line.
"""

from __future__ import annotations

import asyncio

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bot.audio.media_clock import stamp_arrival

MAX_QUEUED_FRAMES = 250  # 5 s of 20 ms frames: a stalled reader loses the oldest audio, never memory


class RelayTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._frames: asyncio.Queue[av.AudioFrame | None] = asyncio.Queue(MAX_QUEUED_FRAMES)
        self.dropped = 0

    def push(self, frame: av.AudioFrame) -> None:
        if self.readyState != "live":
            return
        if self._frames.full():
            self._frames.get_nowait()
            self.dropped += 1
        stamp_arrival(frame)  # a reader that gets to it later still places it when it came
        self._frames.put_nowait(frame)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._frames.get()
        if frame is None:
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        if self.readyState == "live":
            while self._frames.full():
                self._frames.get_nowait()
            self._frames.put_nowait(None)  # wakes a waiting reader, which then sees the end
        super().stop()
