"""``infer(cfg)``: decode -> the Hydra-built pipeline (PERCEIVE -> STABILIZE -> MATCH) -> writers."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from tqdm.auto import tqdm

from emotune.media.overlay import LiveWindow, make_live_window
from emotune.media.video import FrameReader, Prefetcher, batch_videos, check_video_path, open_capture
from emotune.pipeline.chain import Pipeline, TimelineRow
from emotune.runtime.listening import Listening, open_listening
from emotune.runtime.writers import OUTPUTS, VideoRun, write_outputs
from emotune.utils.errors import DataError, EmotuneError
from emotune.utils.instantiators import instantiate
from emotune.utils.io import atomic_path, write_json_atomic

log = logging.getLogger(__name__)


def build_pipeline(cfg: DictConfig) -> Pipeline:
    """The chain from ``cfg.pipeline`` (perceive + stabilizer + matcher, each checking its own settings)."""
    log.info("Instantiating pipeline <%s>", cfg.pipeline._target_)
    return instantiate(cfg.pipeline)


def infer(cfg: DictConfig, capture_factory: Any = None) -> dict[str, Any]:
    """Run the pipeline on ``cfg.video``; write outputs into the Hydra run dir; return the summary.

    ``video`` may be a file, a webcam index, a folder of videos or a ``.txt`` list (batch mode: one
    output folder per video under ``videos/`` and ``batch_summary.csv`` across them).
    ``capture_factory`` replaces ``cv2.VideoCapture`` (tests feed a fake webcam through it).
    """
    out_dir = Path(cfg.paths.output_dir)
    videos = batch_videos(cfg.video)
    if videos is None:
        check_video_path(cfg.video)  # before anything is loaded
    pipeline = build_pipeline(cfg)
    if videos is not None:
        return infer_batch(cfg, pipeline, videos, out_dir)
    return run_video(cfg, pipeline, cfg.video, out_dir, capture_factory)


def infer_batch(cfg: DictConfig, pipeline: Pipeline, videos: list[Path], out_dir: Path) -> dict[str, Any]:
    """Every video with the models loaded once; a bad video is recorded and the batch goes on."""
    from emotune.runtime.collect import summary_table

    runs: dict[str, Path] = {}
    errors: dict[str, str] = {}
    for i, video in enumerate(tqdm(videos, desc="videos", unit="video", disable=not cfg.progress)):
        run = out_dir / "videos" / f"{i:03d}_{video.stem}"
        try:
            check_video_path(video)
            run_video(cfg, pipeline, str(video), run, None, progress=False)
            runs[str(video)] = run
        except EmotuneError as exc:
            errors[str(video)] = str(exc).splitlines()[0]
            log.warning("Skipped %s: %s", video, errors[str(video)])
    table = summary_table(runs, errors)
    with atomic_path(out_dir / "batch_summary.csv") as tmp:
        table.to_csv(tmp, index=False)
    result = {
        "videos": len(videos),
        "ok": len(runs),
        "failed": len(errors),
        "errors": errors,
        "table": str(out_dir / "batch_summary.csv"),
    }
    write_json_atomic(out_dir / "batch.json", result)
    print(
        f"Batch: {len(runs)}/{len(videos)} videos done. Table: {out_dir / 'batch_summary.csv'}; "
        f"per-video outputs in {out_dir / 'videos'}"
    )
    if errors:
        first = next(iter(errors))
        raise DataError(
            f"{len(errors)} of {len(videos)} videos failed (first: {first}: {errors[first]}); "
            f"the others are done, see {out_dir / 'batch_summary.csv'}."
        )
    return result


MIN_DECODED_S = 1.0  # a file that reports a longer length but decodes less than this is an error, not a run


def run_video(
    cfg: DictConfig,
    pipeline: Pipeline,
    video: Any,
    out_dir: Path,
    capture_factory: Any = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """One video through the pipeline; its outputs into ``out_dir`` (and ``annotated.mp4`` with ``render``)."""
    from emotune.runtime.render import Recorder, render_annotated

    show = cfg.progress if progress is None else progress
    recorder = Recorder(out_dir) if cfg.render else None
    listening = open_listening(cfg, pipeline.matcher, video, out_dir)
    try:
        run = analyse(
            pipeline,
            video,
            capture_factory=capture_factory,
            max_frames=cfg.max_frames,
            display=cfg.display,
            progress=show,
            recorder=recorder,
            listening=listening,
        )
        summary = write_outputs(out_dir, run, pipeline)
        summary["listening"] = listening.summary()
        write_json_atomic(out_dir / "summary.json", summary)
        listening.finish(summary)
        if cfg.render:
            source = recorder.path if recorder is not None and run.info.live else Path(str(video))
            summary.update(render_annotated(source, run, pipeline, out_dir, cfg.soundtrack))
            write_json_atomic(out_dir / "summary.json", summary)
    finally:
        listening.close()
        if recorder is not None:
            recorder.discard()
    log.info("Outputs in %s", out_dir)
    if show:
        names = ", ".join([*OUTPUTS, *(["annotated.mp4", "soundtrack.m4a"] if cfg.render else [])])
        print(
            f"Done: {summary['switches'] + 1} songs over {run.video_seconds:.0f} s "
            f"({summary['realtime_factor']:.1f}x realtime). Outputs: {out_dir}/({names})"
        )
    return summary


def batched(it: Iterable, n: int) -> Iterator[list]:
    """Consecutive lists of ``n`` items (the last may be shorter)."""
    it = iter(it)
    while chunk := list(itertools.islice(it, n)):
        yield chunk


def analyse(
    pipeline: Pipeline,
    video: Any,
    capture_factory: Any = None,
    max_frames: int | None = None,
    display: Any = "auto",
    progress: bool = True,
    recorder: Any = None,
    listening: Listening | None = None,
) -> VideoRun:
    """Decode ``video`` at the pipeline's rate and run every analysed frame through it (``listening``: the listener's
    side of the session: the trace, the plays, the live window's feedback keys)."""
    cap, info = open_capture(video, capture_factory=capture_factory)
    for note in info.notes:
        log.warning("%s: %s", info.source, note)
    pipeline.reset()
    window: LiveWindow | None = make_live_window(display, info.live)
    reader = FrameReader(cap, info, pipeline.fps, max_frames)
    size = 1 if window is not None else pipeline.perceiver.batch_size  # live: show each frame at once
    total = int(info.frames / info.fps * pipeline.fps) + 1 if info.frames else None
    rows: list[TimelineRow] = []
    t0 = time.perf_counter()
    with tqdm(total=total, desc="infer", unit="frame", disable=not progress) as bar:
        try:
            # decoding runs ahead in a thread (overlapping the models); "decode" is the time spent waiting for it
            with Prefetcher(reader, depth=2 * size) as frames:
                for batch in batched(pipeline.stopwatch.timed_iter("decode", frames), size):
                    new = pipeline.step(batch)
                    rows += new
                    if listening is not None:
                        for row in new:
                            listening.after_row(row)
                        if window is not None and new:
                            for event in window.take_feedback():
                                log.info("%s at %.1f s (live window)", event, new[-1].t_s)
                                listening.feedback(new[-1].t_s, event)
                    if recorder is not None and info.live:
                        recorder.write([f for _, f in batch], pipeline.fps)
                    if window is not None:
                        window.show_rows(batch, new, pipeline.matcher.catalog)
                        if window.stop_requested:
                            log.info("Stopped from the live window at %.1f s.", new[-1].t_s)
                            break
                    bar.update(len(batch))
        finally:
            cap.release()
            if window is not None:
                window.close()
    if reader.stopped_by == "error":
        log.warning(
            "Video stopped being readable at %.1f s (%s); finishing with what was read.", reader.last_t, reader.error
        )
    if not rows:
        raise DataError(f"video={video}: no frame could be decoded (zero frames); nothing to analyse.")
    truncated = reader.truncated()
    expected_s = info.frames / info.fps if info.frames and not info.live else 0.0
    if truncated and reader.last_t < MIN_DECODED_S <= expected_s:
        raise DataError(
            f"video={video}: only {reader.last_t:.1f} s of its {expected_s:.1f} s decode (a truncated or damaged "
            "file): re-encode or re-download it."
        )
    if truncated and reader.stopped_by == "eof":
        log.warning(
            "Decoding ended at %.1f s of %.1f s: the file looks truncated.", reader.last_t, info.frames / info.fps
        )
    processing_s = time.perf_counter() - t0
    video_s = rows[-1].t_s + 1.0 / pipeline.fps
    playlist = pipeline.finish(video_s)
    return VideoRun(str(video), info, rows, playlist, video_s, processing_s, truncated, pipeline.stopwatch.as_dict())
