"""PCM conversions: WebRTC's 48 kHz frames in, 16 kHz mono for speech models out."""

from __future__ import annotations

import io
import wave
from fractions import Fraction

import av
import numpy as np

ASR_RATE = 16_000
WEBRTC_RATE = 48_000


class Resampler:
    """Any av.AudioFrame (any rate, layout, sample format) → 16-bit mono PCM at `rate`."""

    def __init__(self, rate: int = ASR_RATE) -> None:
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)

    def __call__(self, frame: av.AudioFrame) -> np.ndarray:
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.int16) if out else np.zeros(0, dtype=np.int16)


def resample_pcm(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Resample int16 mono PCM held in memory (used for rendered speech)."""
    if rate == target_rate:
        return samples.astype(np.int16)
    frame = av.AudioFrame.from_ndarray(samples.astype(np.int16).reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    frame.time_base = Fraction(1, rate)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=target_rate)
    chunks = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, dtype=np.int16)


def wav_bytes_to_pcm(data: bytes) -> tuple[np.ndarray, int]:
    """Decode a mono or stereo 16-bit WAV held in memory into int16 mono samples."""
    with wave.open(io.BytesIO(data)) as wav:
        if wav.getsampwidth() != 2:
            raise ValueError("only 16-bit WAV is supported")
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        if wav.getnchannels() > 1:
            samples = samples.reshape(-1, wav.getnchannels()).mean(axis=1).astype(np.int16)
        return samples, wav.getframerate()


def read_wav(path: str) -> tuple[np.ndarray, int]:
    with open(path, "rb") as handle:
        return wav_bytes_to_pcm(handle.read())


def pcm_to_float(samples: np.ndarray) -> np.ndarray:
    return samples.astype(np.float32) / 32768.0


def rms_dbfs(samples: np.ndarray) -> float:
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))
    return 20.0 * np.log10(max(rms, 1e-9) / 32768.0)


def load_audio(path: str, rate: int = ASR_RATE) -> np.ndarray:
    """Decode any audio file FFmpeg knows into int16 mono PCM at `rate`, in memory."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    chunks: list[np.ndarray] = []
    with av.open(path) as container:
        if not container.streams.audio:
            raise ValueError(f"{path} has no audio stream")
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, dtype=np.int16)
