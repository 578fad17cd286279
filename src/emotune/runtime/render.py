"""``render=true``: ``annotated.mp4`` at the source's frame rate with the playlist as its soundtrack, and the
soundtrack alone (``soundtrack.m4a``). Encoded with PyAV (bundled FFmpeg): H.264 video, AAC audio."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from omegaconf import DictConfig

from emotune.audio.io import decode_audio, encode_audio, write_samples
from emotune.audio.soundtrack import SoundtrackSettings, build_soundtrack
from emotune.media.overlay import annotate, overlay_states
from emotune.pipeline.chain import Pipeline
from emotune.runtime.writers import VideoRun, playlist_entries
from emotune.utils.errors import DataError
from emotune.utils.instantiators import instantiate
from emotune.utils.io import atomic_path

log = logging.getLogger(__name__)


class Recorder:
    """A live source's analysed frames, kept in a temporary video only while ``render=true`` needs them."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / ".recording.tmp.mp4"
        self._writer: cv2.VideoWriter | None = None

    def write(self, frames: list[np.ndarray], fps: float) -> None:
        """Append frames (all the same size)."""
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            h, w = frames[0].shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc("m", "p", "4", "v"), fps, (w, h))
        for f in frames:
            self._writer.write(f)

    def discard(self) -> None:
        """Close and delete the recording."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self.path.unlink(missing_ok=True)


def _clip_audio(source: Path, sr: int) -> np.ndarray | None:
    try:
        return decode_audio(source, sr)
    except DataError:
        return None  # a silent clip


def render_annotated(
    source: Path, run: VideoRun, pipeline: Pipeline, out_dir: Path, soundtrack: DictConfig | SoundtrackSettings
) -> dict[str, Any]:
    """Write ``annotated.mp4`` (every source frame of the analysed span, the overlay of the latest analysed frame,
    the soundtrack) and ``soundtrack.m4a``; return what ``summary.json`` records about them.

    The video covers what was analysed (``run.video_seconds``): with ``max_frames`` it ends where the analysis ended,
    not with the source, so the picture and the music stop together."""
    # conf/infer.yaml's ``soundtrack`` node (its one home), or the settings it builds
    settings = soundtrack if isinstance(soundtrack, SoundtrackSettings) else instantiate(soundtrack)
    catalog = pipeline.matcher.catalog
    states = overlay_states(run.rows, catalog)
    times = np.array([r.t_s for r in run.rows])
    songs = playlist_entries(run.playlist, catalog)
    sr = settings.sample_rate
    with av.open(str(source)) as src:
        vin = src.streams.video[0]
        rate = vin.average_rate or vin.guessed_rate or Fraction(round(pipeline.fps * 1000), 1000)
        fps = float(rate)
        w, h = vin.codec_context.width, vin.codec_context.height
        with atomic_path(out_dir / "annotated.mp4") as tmp, av.open(str(tmp), mode="w", format="mp4") as out:
            vs = out.add_stream("libx264", rate=rate)  # every stream is declared before the first packet
            vs.width, vs.height, vs.pix_fmt = w + w % 2, h + h % 2, "yuv420p"  # yuv420p needs even sizes
            vs.options = {"crf": "23", "preset": "veryfast"}
            aud = out.add_stream("aac", rate=sr, layout="mono")
            aud.bit_rate = 160_000
            n_frames, end = 0, int(np.ceil(run.video_seconds * fps - 1e-6))
            for frame in src.decode(vin):
                if n_frames >= end:
                    break  # past the analysed span
                t = n_frames / fps
                state = states[max(0, int(np.searchsorted(times, t + 1e-6, side="right")) - 1)]
                img = annotate(frame.to_ndarray(format="bgr24"), state)
                if img.shape[1] != vs.width or img.shape[0] != vs.height:
                    img = cv2.copyMakeBorder(
                        img, 0, vs.height - img.shape[0], 0, vs.width - img.shape[1], cv2.BORDER_REPLICATE
                    )
                vf = av.VideoFrame.from_ndarray(img, format="bgr24")
                vf.pts = n_frames
                for packet in vs.encode(vf):
                    out.mux(packet)
                n_frames += 1
            if n_frames == 0:
                raise DataError(f"{source}: no video frame to annotate.")
            for packet in vs.encode(None):
                out.mux(packet)
            seconds = n_frames / fps
            track, report = build_soundtrack(songs, seconds, settings, _clip_audio(source, sr))
            write_samples(out, aud, track[:, None], sr)
    encode_audio(out_dir / "soundtrack.m4a", track, sr, bitrate=160_000)
    log.info("annotated.mp4: %d frames at %.3f fps with the soundtrack; soundtrack.m4a", n_frames, fps)
    return {"annotated": {"frames": n_frames, "fps": round(fps, 3), "seconds": round(seconds, 3)}, "soundtrack": report}
