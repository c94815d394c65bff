"""Where each received frame sits in time: its track's media clock, not the moment it arrived.

A segment's time is the session time of its stream's first frame plus the audio counted since.
Counting only the audio that arrived would pull every later segment earlier by whatever was lost:
dropped packets, an SFU that stopped relaying, a blackout. The frames' own timestamps (RTP time,
as aiortc's decoder stamps them) say how much audio is missing; it is accounted as silence, so
times stay true.

A timestamp that cannot continue the timeline (it runs backwards, or jumps further than the time
that has really passed: a new sender after a reconnect, another SFU stream fed into the same
relay) re-anchors the media clock to the session clock instead. So does a timeline that carries
on as if nothing happened after frames stopped arriving for a while (an SFU that smooths
timestamps across a switch of source): the stream is then behind the session clock, and the time
that passed is accounted as silence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av

RTP_WRAP = 1 << 32
# A jitter buffer can hold a frame back and then release several at once, so a gap may show up
# somewhat ahead of the wall clock; more than this ahead is not a gap but a new timeline.
ARRIVAL_SLACK_S = 1.0
# Frames that stopped arriving for longer than this, with timestamps that do not show it, leave the
# stream behind the session clock by as much: re-anchored. Arrival is the frame's stamp where it has
# one (stamp_arrival: a relay's queue), else the moment it is read; for an unstamped track an event
# loop blocked for longer than this would be taken for a stall too (sessions keep the loop's stalls
# far shorter: tests/integration/test_consent_invariants.py, under 0.5 s).
STALL_S = 1.5


@dataclass(frozen=True)
class Missing:
    seconds: float
    timeline_broken: bool = False  # re-anchored to the session clock: a new timeline, not a gap in this one


NOTHING_MISSING = Missing(0.0)


def stamp_arrival(frame: av.AudioFrame) -> None:
    """Note when a frame arrived (monotonic seconds), for a reader that may get to it later: a frame
    that waited in a queue is placed when it came, not when it was read."""
    frame.opaque = time.monotonic()


def waited_s(frame: av.AudioFrame) -> float:
    """How long ago the frame arrived, if it was stamped; 0 if not."""
    arrived = frame.opaque
    return max(0.0, time.monotonic() - arrived) if isinstance(arrived, float) else 0.0


class MediaClock:
    """Tells, per frame, how many seconds of audio are missing before it."""

    def __init__(self) -> None:
        self._expected: int | None = None  # pts the next frame has when nothing is lost
        self._time_base: Fraction | None = None
        self._last_arrival = 0.0
        self.missing_s = 0.0  # audio accounted as silence so far
        self.reanchors = 0

    def missing_before(self, frame: av.AudioFrame, arrived_s: float, position_s: Callable[[], float]) -> Missing:
        """Seconds of audio missing between the previous frame and this one. `arrived_s`: when this frame
        arrived, on the session clock; `position_s()`: where the stream stands on it (start offset +
        audio counted so far), consulted only when the timeline breaks."""
        now = arrived_s
        if frame.pts is None or frame.time_base is None:
            return NOTHING_MISSING  # nothing to go by: count what arrived
        expected, time_base = self._expected, self._time_base
        self._expected = frame.pts + frame.samples * _ticks_per_sample(frame)
        self._time_base = frame.time_base
        since_last = now - self._last_arrival
        self._last_arrival = now
        if expected is None:
            return NOTHING_MISSING
        if time_base != frame.time_base:
            return self._reanchor(now, position_s)
        delta = frame.pts - expected
        if delta < -(RTP_WRAP // 2):
            delta += RTP_WRAP  # a 32-bit RTP timestamp wrapped around
        gap_s = float(delta * frame.time_base) if delta else 0.0
        if gap_s < 0 or gap_s > since_last + ARRIVAL_SLACK_S:
            return self._reanchor(now, position_s)
        if since_last - gap_s > STALL_S and now - (position_s() + gap_s) > STALL_S:
            return self._reanchor(now, position_s)
        if gap_s == 0:
            return NOTHING_MISSING
        self.missing_s += gap_s
        return Missing(gap_s)

    def _reanchor(self, now: float, position_s: Callable[[], float]) -> Missing:
        self.reanchors += 1
        behind_s = max(0.0, now - position_s())
        self.missing_s += behind_s
        return Missing(behind_s, timeline_broken=True)


def _ticks_per_sample(frame: av.AudioFrame) -> Fraction | int:
    # pts counts in time_base units; a frame holds `samples` at `sample_rate`.
    ticks = Fraction(1, frame.sample_rate) / frame.time_base
    return ticks if ticks.denominator != 1 else int(ticks)
