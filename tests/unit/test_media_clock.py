"""Segment times follow each track's media clock: missing audio counts as silence (issue 15 item 1)."""

from __future__ import annotations

import time
from fractions import Fraction

import av
import numpy as np

from bot.audio.media_clock import RTP_WRAP, MediaClock, Missing, waited_s
from bot.audio.pcm import resample_pcm
from bot.audio.tts import render_speech
from bot.audio.vad import VadSegmenter
from bot.call.relay import RelayTrack
from bot.config import VadSettings

RATE = 48_000
FRAME = 960  # 20 ms


class WallClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def frame(pts: int, samples: int = FRAME, value: int = 0) -> av.AudioFrame:
    made = av.AudioFrame.from_ndarray(np.full((1, samples), value, dtype=np.int16), format="s16", layout="mono")
    made.sample_rate = RATE
    made.pts = pts
    made.time_base = Fraction(1, RATE)
    return made


def test_contiguous_frames_miss_nothing() -> None:
    wall = WallClock()
    clock = MediaClock()
    for index in range(50):
        wall.now += 0.02
        assert clock.missing_before(frame(5_000 + index * FRAME), wall.now, lambda: wall.now).seconds == 0.0
    assert clock.missing_s == 0.0 and clock.reanchors == 0


def test_lost_packets_are_counted_as_the_audio_they_carried() -> None:
    wall = WallClock()
    clock = MediaClock()
    clock.missing_before(frame(0), wall.now, lambda: wall.now)
    wall.now += 0.08  # three frames never arrived
    assert clock.missing_before(frame(4 * FRAME), wall.now, lambda: wall.now) == Missing(3 * 0.02)
    wall.now += 3.02  # a 3 s blackout of this sender
    blackout = clock.missing_before(frame(5 * FRAME + 150 * FRAME), wall.now, lambda: wall.now)
    assert abs(blackout.seconds - 3.0) < 1e-9 and not blackout.timeline_broken
    assert clock.reanchors == 0


def test_a_jump_beyond_the_time_that_passed_reanchors_to_the_session_clock() -> None:
    wall = WallClock()
    clock = MediaClock()
    clock.missing_before(frame(0), wall.now, lambda: wall.now)
    wall.now += 2.0
    # Another sender's timeline (a reconnect): its timestamps say nothing about this one's; the
    # stream stood at 100.5 s while the session is at 102 s, so 1.5 s are missing.
    assert clock.missing_before(frame(987_654_321), wall.now, lambda: 100.5) == Missing(1.5, timeline_broken=True)
    wall.now += 0.02
    assert clock.missing_before(frame(987_654_321 - 40 * FRAME), wall.now, lambda: wall.now) == Missing(0.0, True)  # backwards
    assert clock.reanchors == 2


def test_an_rtp_timestamp_that_wraps_continues_the_timeline() -> None:
    wall = WallClock()
    clock = MediaClock()
    clock.missing_before(frame(RTP_WRAP - FRAME), wall.now, lambda: wall.now)
    wall.now += 0.04
    assert clock.missing_before(frame(FRAME), wall.now, lambda: wall.now) == Missing(0.02)  # one frame lost across the wrap
    assert clock.reanchors == 0


def test_a_frame_without_timestamps_counts_what_arrived() -> None:
    wall = WallClock()
    clock = MediaClock()
    untimed = frame(0)
    untimed.pts = None
    assert clock.missing_before(untimed, wall.now, lambda: 0.0) == Missing(0.0)


def test_missing_audio_closes_an_open_utterance_and_advances_time_exactly() -> None:
    segmenter = VadSegmenter(VadSettings())
    samples, rate = render_speech("I have been sleeping better since we last spoke, and the breathing helps.", "en-us", 150)
    voiced = resample_pcm(samples, rate, 16_000)
    half = voiced.size // 2  # the blackout starts mid-sentence
    assert [u for u in segmenter.push(voiced[:half]) if not u.provisional] == [] and segmenter.in_speech
    before_s = segmenter.position_s
    # webrtcvad itself goes on saying "speech" for a few frames after speech: the hang-over's worth of
    # zeros alone left this utterance open across the blackout.
    closed = segmenter.silence(3 * 16_000 + 7)  # a 3 s blackout (and 7 samples past a frame edge)
    # It ends where the audio stopped, plus the zeros webrtcvad still took for speech (about 0.3 s).
    assert len(closed) == 1 and closed[0].end_s <= before_s + 0.45
    assert closed[0].cut  # the blackout, not the speaker, ended it
    assert abs(segmenter.position_s - (before_s + 3.0 + 7 / 16_000)) < 0.03  # within the frame in progress
    later = [u for u in segmenter.push(np.concatenate([voiced[half:], np.zeros(16_000, dtype=np.int16)])) if not u.provisional]
    assert len(later) == 1 and later[0].start_s >= before_s + 3.0 - 0.03  # placed after the blackout


def test_frames_that_stopped_arriving_without_a_timestamp_gap_still_count_as_missing() -> None:
    wall = WallClock()
    clock = MediaClock()
    clock.missing_before(frame(0), wall.now, lambda: wall.now)
    wall.now += 4.0  # nothing arrived for 4 s, yet the next timestamp follows on (an SFU smoothing a switch)
    assert clock.missing_before(frame(FRAME), wall.now, lambda: wall.now - 4.0) == Missing(4.0, timeline_broken=True)


def test_a_slow_reader_catching_up_on_queued_frames_misses_nothing() -> None:
    wall = WallClock()
    clock = MediaClock()
    clock.missing_before(frame(0), wall.now, lambda: wall.now)
    wall.now += 1.2  # the reader stalled while frames queued up, then reads them back to back
    behind = wall.now - 1.2
    for index in range(1, 60):
        assert clock.missing_before(frame(index * FRAME), wall.now, lambda: behind) == Missing(0.0)
        behind += 0.02
    assert clock.reanchors == 0


def test_a_relayed_frame_is_placed_when_it_arrived_not_when_it_was_read() -> None:
    relay = RelayTrack()
    sent = frame(0)
    relay.push(sent)
    time.sleep(0.2)  # the reader gets to it late (a queue in between)
    assert 0.2 <= waited_s(sent) < 1.0
    assert waited_s(frame(960)) == 0.0  # a frame nobody stamped: placed when read
