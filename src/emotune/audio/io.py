"""Decode and encode audio with PyAV (its wheels bundle FFmpeg: no system ffmpeg needed)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import av
import numpy as np

from emotune.utils.errors import DataError
from emotune.utils.io import atomic_path

AUDIO_SUFFIXES = (".mp3", ".ogg", ".opus", ".flac", ".wav", ".m4a", ".aac")  # the one list: library, data sets, app
_ENCODERS = {
    ".mp3": ("libmp3lame", "mp3"),
    ".m4a": ("aac", "mp4"),
    ".wav": ("pcm_s16le", "wav"),
    ".flac": ("flac", "flac"),
    ".ogg": ("libopus", "ogg"),  # Opus in Ogg (FFmpeg's own Vorbis encoder is experimental); Opus runs at 48 kHz
}


def decode_audio(
    path: str | Path, sr: int = 22050, offset_s: float = 0.0, duration_s: float | None = None
) -> np.ndarray:
    """Mono float32 samples at ``sr`` from ``offset_s`` for ``duration_s`` seconds (to the end when ``None``).

    Raises :class:`DataError` when the file has no decodable audio stream.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise DataError(f"{path} has no audio stream.")
            stream = container.streams.audio[0]
            if offset_s > 0 and stream.time_base:
                container.seek(int(offset_s / stream.time_base), stream=stream, any_frame=False, backward=True)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
            chunks, start_t, need = [], None, None if duration_s is None else int(duration_s * sr)
            got = 0
            for frame in container.decode(stream):
                if start_t is None:
                    start_t = float(frame.time or 0.0)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    got += len(chunks[-1])
                if need is not None and got >= need + int(max(0.0, offset_s - start_t) * sr):
                    break
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path} could not be decoded as audio ({type(exc).__name__}).") from None
    if not chunks:
        raise DataError(f"{path} holds no audio samples.")
    audio = np.concatenate(chunks).astype(np.float32)
    skip = int(max(0.0, offset_s - (start_t or 0.0)) * sr)  # seeking lands on a frame before the offset
    audio = audio[skip:]
    return audio if need is None else audio[:need]


def decode_excerpt(path: str | Path, sr: int, seconds: float, duration_s: float | None = None) -> np.ndarray:
    """``seconds`` of mono audio at ``sr`` around the middle of the file (all of it when it is shorter).

    Args:
        duration_s: the file's length when already known (tags); else read from the container.
    """
    total = duration_s if duration_s is not None and np.isfinite(duration_s) else audio_duration(path) or 0.0
    offset = max(0.0, total / 2 - seconds / 2) if total > seconds + 0.5 else 0.0  # a 30.06 s clip is not seeked
    return decode_audio(path, sr, offset_s=offset, duration_s=seconds)


def encode_audio(path: str | Path, samples: np.ndarray, sr: int, bitrate: int = 128_000) -> Path:
    """Write mono (``(n,)``) or stereo (``(n, 2)``) float samples in [-1, 1]; the codec follows the suffix."""
    path = Path(path)
    codec, fmt = _ENCODERS.get(path.suffix.lower(), (None, None))
    if codec is None:
        raise DataError(f"Cannot write {path.suffix} audio; use one of {', '.join(_ENCODERS)}.")
    x = np.clip(np.asarray(samples, np.float32), -1, 1)
    x = x[:, None] if x.ndim == 1 else x
    layout = "mono" if x.shape[1] == 1 else "stereo"
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format=fmt) as out:
        stream = cast(  # an audio codec (_ENCODERS): PyAV types a codec given as a plain str as any stream
            "av.audio.stream.AudioStream",
            out.add_stream(codec, rate=48000 if codec == "libopus" else sr, layout=layout),
        )
        if codec not in ("pcm_s16le", "flac"):
            stream.bit_rate = bitrate
        write_samples(out, stream, x, sr)
    return path


def write_samples(
    container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, x: np.ndarray, sr: int
) -> None:
    """Encode ``(n, channels)`` float samples into an open audio stream (then flush it)."""
    layout = "mono" if x.shape[1] == 1 else "stereo"
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x.T), format="fltp", layout=layout)
    frame.sample_rate = sr
    resampler = av.AudioResampler(
        format=stream.format.name, layout=layout, rate=stream.rate or sr, frame_size=stream.frame_size or None
    )
    for f in resampler.resample(frame) + resampler.resample(None):
        for packet in stream.encode(f):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def audio_duration(path: str | Path) -> float | None:
    """Seconds of the first audio stream (container metadata), ``None`` when unknown."""
    try:
        with av.open(str(path)) as c:
            s = c.streams.audio[0] if c.streams.audio else None
            if s is not None and s.duration and s.time_base:
                return float(s.duration * s.time_base)
            return float(c.duration / av.time_base) if c.duration else None
    except (av.error.FFmpegError, OSError):
        return None
