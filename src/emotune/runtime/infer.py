"""``infer(cfg)``: video -> PERCEIVE -> STABILIZE -> MATCH -> timeline, playlist, summary, figure."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig
from tqdm.auto import tqdm

from emotune.data.catalog import Catalog
from emotune.models.loading import load_phase_module
from emotune.pipeline.overlay import VideoRenderer, annotate, make_live_window
from emotune.pipeline.perceive import Perceiver
from emotune.pipeline.video import batch_videos, check_video_path, downscale, iter_frames, open_capture
from emotune.utils.errors import ConfigError, DataError, EmotuneError, MissingResourceError, check_range
from emotune.utils.io import atomic_path, write_json_atomic, write_text_atomic
from emotune.utils.timing import Stopwatch

log = logging.getLogger(__name__)


def validate_infer_cfg(cfg: DictConfig) -> None:
    """Every key others rely on, checked before any work."""
    check_range("perceive.fps", cfg.perceive.fps, 0.0, 60.0, low_inclusive=False)
    check_range("perceive.mc_samples", cfg.perceive.mc_samples, 1)
    check_range("perceive.batch_size", cfg.perceive.batch_size, 1)
    check_range("perceive.max_side", cfg.perceive.max_side, 64)
    check_range("stabilizer.window_s", cfg.stabilizer.get("window_s", 1.0), 0.0, None, low_inclusive=False)
    check_range("stabilizer.tau", cfg.stabilizer.get("tau", 0.0), 0.0)
    if cfg.stabilizer.get("alpha") is not None:
        check_range("stabilizer.alpha", cfg.stabilizer.alpha, 0.0, 1.0, low_inclusive=False)
    check_range("matcher.min_dwell_s", cfg.matcher.min_dwell_s, 0.0)
    check_range("matcher.memory", cfg.matcher.memory, 0)
    check_range("matcher.k", cfg.matcher.k, 1)
    if cfg.matcher.mode not in ("validate", "guide"):
        raise ConfigError(f"matcher.mode={cfg.matcher.mode!r} is not valid; choose one of: validate, guide.")


def resolve_checkpoints(ckpt: DictConfig) -> dict[str, str | None]:
    """``ckpt.scene/face/fusion``, each defaulting to ``<ckpt.dir>/<phase>/checkpoints/best.ckpt``."""
    out: dict[str, str | None] = {}
    for phase in ("scene", "face", "fusion"):
        p = ckpt.get(phase)
        if not p and ckpt.get("dir"):
            cand = Path(ckpt.dir) / phase / "checkpoints" / "best.ckpt"
            p = str(cand) if cand.is_file() else None
        out[phase] = p
    if not out["scene"] and not out["fusion"]:
        raise MissingResourceError(
            "No scene checkpoint: give ckpt.dir=DIR (with scene/face/fusion subfolders, e.g. outputs/demo after "
            "`make demo`) or ckpt.scene=PATH [ckpt.face=PATH ckpt.fusion=PATH]."
        )
    return out


def load_models(paths: dict[str, str | None]) -> tuple[Any, Any, Any]:
    """Scene, face, fusion modules (fusion checkpoints carry both paths)."""
    fusion = load_phase_module(paths["fusion"], "fusion") if paths["fusion"] else None
    if fusion is not None:
        scene = load_phase_module(paths["scene"], "scene") if paths["scene"] else fusion.scene
        face = load_phase_module(paths["face"], "face") if paths["face"] else fusion.face
    else:
        scene = load_phase_module(paths["scene"], "scene")
        face = load_phase_module(paths["face"], "face") if paths["face"] else None
    return scene, face, fusion


def face_margin(p: DictConfig, face: Any, fusion: Any) -> float:
    """``perceive.face_margin``, or by default the margin the face path was trained with."""
    if p.get("face_margin") is not None:
        return check_range("perceive.face_margin", p.face_margin, 0.0, 2.0)
    for module in (face, fusion):
        margin = getattr(module, "face_margin", None)
        if margin is not None:
            return float(margin)
    if face is not None:
        log.warning(
            "The face checkpoint does not record its crop margin; using 0.25 (set perceive.face_margin)."
        )
    return 0.25


def song_meta(catalog: Catalog, row: int) -> dict[str, Any]:
    s = catalog.songs.iloc[row]
    meta = {"song_id": str(s["song_id"]), "valence": float(s["valence"]), "arousal": float(s["arousal"])}
    for col in ("title", "artist", "genre", "path"):
        if isinstance(s.get(col), str) and s[col]:
            meta[col] = s[col]
    if np.isfinite(s.get("duration_s", np.nan)):
        meta["duration_s"] = float(s["duration_s"])
    return meta


@dataclass
class Runtime:
    """What one ``infer`` run builds once and reuses for every video."""

    catalog: Catalog
    stabilizer: Any
    matcher: Any
    perceiver: Perceiver
    stopwatch: Stopwatch


def build_runtime(cfg: DictConfig) -> Runtime:
    """Catalogue, stabilizer, matcher (Hydra-instantiated), checkpoints and detector."""
    ckpts = resolve_checkpoints(cfg.ckpt)
    log.info("Instantiating catalog <%s>", cfg.catalog._target_)
    catalog: Catalog = hydra.utils.instantiate(cfg.catalog)
    if cfg.get("filters") and any(cfg.filters.values()):
        catalog = catalog.filter(**cfg.filters)
    log.info("Instantiating stabilizer <%s>", cfg.stabilizer._target_)
    stabilizer = hydra.utils.instantiate(cfg.stabilizer)
    log.info("Instantiating matcher <%s>", cfg.matcher._target_)
    matcher = hydra.utils.instantiate(cfg.matcher, _partial_=True)(
        catalog=catalog
    )  # a dataclass kwarg would become a config
    scene, face, fusion = load_models(ckpts)
    detector = hydra.utils.instantiate(cfg.detector) if face is not None else None
    p = cfg.perceive
    sw = Stopwatch()
    perceiver = Perceiver(
        scene,
        face,
        fusion,
        detector,
        int(p.mc_samples),
        face_margin(p, face, fusion),
        str(p.face_policy),
        stopwatch=sw,
        track_faces=bool(p.get("track_faces", True)),
    )
    return Runtime(catalog, stabilizer, matcher, perceiver, sw)


def infer(cfg: DictConfig, capture_factory: Any = None) -> dict[str, Any]:
    """Run the pipeline on ``cfg.video``; write outputs into the Hydra run dir; return the summary.

    ``video`` may be a file, a webcam index, a folder of videos or a ``.txt`` list (batch mode: one
    output folder per video under ``videos/`` and ``batch_summary.csv`` across them).
    ``capture_factory`` replaces ``cv2.VideoCapture`` (tests feed a fake webcam through it).
    """
    validate_infer_cfg(cfg)
    out_dir = Path(cfg.paths.output_dir)
    videos = batch_videos(cfg.video)
    if videos is not None:
        return infer_batch(cfg, videos, out_dir)
    check_video_path(cfg.video)
    return run_video(cfg, build_runtime(cfg), cfg.video, out_dir, capture_factory)


def infer_batch(cfg: DictConfig, videos: list[Path], out_dir: Path) -> dict[str, Any]:
    """Every video with the models loaded once; a bad video is recorded and the batch goes on."""
    from emotune.runtime.collect import summary_table

    rt = build_runtime(cfg)
    runs: dict[str, Path] = {}
    errors: dict[str, str] = {}
    for i, video in enumerate(
        tqdm(videos, desc="videos", unit="video", disable=not cfg.get("progress", True))
    ):
        run = out_dir / "videos" / f"{i:03d}_{video.stem}"
        try:
            check_video_path(video)
            run_video(cfg, rt, str(video), run, None, progress=False)
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
        raise DataError(
            f"{len(errors)} of {len(videos)} videos failed (first: {next(iter(errors))}: "
            f"{next(iter(errors.values()))}); the others are done, see {out_dir / 'batch_summary.csv'}."
        )
    return result


def run_video(
    cfg: DictConfig,
    rt: Runtime,
    video: Any,
    out_dir: Path,
    capture_factory: Any = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """PERCEIVE -> STABILIZE -> MATCH over one video; write its outputs into ``out_dir``."""
    p, sw, catalog, stabilizer, matcher = cfg.perceive, rt.stopwatch, rt.catalog, rt.stabilizer, rt.matcher
    sw.seconds.clear()
    cap, info = open_capture(video, capture_factory=capture_factory)
    for note in info.notes:
        log.warning("%s: %s", info.source, note)

    rows: list[dict[str, Any]] = []
    render = VideoRenderer(out_dir / "annotated.mp4", float(p.fps)) if cfg.get("render") else None
    window = make_live_window(cfg.get("display", "auto"), info.live)
    stabilizer.reset()
    matcher.reset()
    rt.perceiver.reset()
    t_start = time.perf_counter()
    truncated = False
    last_t, batch = 0.0, []
    total = int(info.frames / info.fps * p.fps) + 1 if info.frames else None
    show = cfg.get("progress", True) if progress is None else progress
    bar = tqdm(total=total, desc="infer", unit="frame", disable=not show)

    def flush(batch: list[tuple[float, np.ndarray]]) -> None:
        nonlocal last_t
        perc = rt.perceiver([f for _, f in batch])
        for (t, frame), fp in zip(batch, perc):
            dt = t - last_t if rows else 1.0 / p.fps
            with sw("stabilize"):
                stab = stabilizer.update(fp.fused_mean, fp.fused_var, fp.face_found, dt)
            with sw("match"):
                play = matcher.update(t, stab)
            last_t = t
            rows.append(_timeline_row(t, fp, stab, stabilizer.held, play))
            if render is not None or window is not None:
                with sw("render"):
                    img = annotate(frame, fp.face_box, stab, song_meta(catalog, play.row))
                    if render is not None:
                        render.write(img)
                    if window is not None:
                        window.show(img)
        bar.update(len(batch))

    try:
        for t, frame in sw.timed_iter("decode", iter_frames(cap, info, float(p.fps), cfg.get("max_frames"))):
            with sw("downscale"):
                frame = downscale(frame, int(p.max_side))
            batch.append((t, frame))
            if len(batch) >= (1 if window is not None else p.batch_size):  # live: show each frame at once
                flush(batch)
                batch = []
            if window is not None and window.stop_requested:
                log.info("Stopped from the live window at %.1f s.", last_t)
                break
        if batch:
            flush(batch)
    except (OSError, RuntimeError) as exc:  # the file became unreadable part-way: keep what was read
        truncated = True
        log.warning("Video stopped being readable at %.1f s (%s); finishing with what was read.", last_t, exc)
    except BaseException:
        if render is not None:
            render.abort()  # no half-written annotated.mp4
        raise
    finally:
        bar.close()
        cap.release()
        if window is not None:
            window.close()
    if not rows:
        if render is not None:
            render.abort()
        raise DataError(f"video={video}: no frame could be decoded (zero frames); nothing to analyse.")
    if info.frames and not info.live:
        expected = info.frames / info.fps
        if last_t + 2.0 / p.fps + 1.0 / info.fps < expected - 1.0:
            truncated = True
            log.warning("Decoding ended at %.1f s of %.1f s: the file looks truncated.", last_t, expected)
    processing_s = time.perf_counter() - t_start
    video_s = last_t + 1.0 / p.fps
    playlist = matcher.finish(video_s)
    if render is not None:
        render.close()
    summary = _write_outputs(
        out_dir,
        cfg,
        video,
        rows,
        playlist,
        catalog,
        matcher,
        info,
        video_s,
        processing_s,
        truncated,
        sw.as_dict(),
    )
    log.info("Outputs in %s", out_dir)
    if show:
        print(
            f"Done: {len(playlist)} songs over {video_s:.0f} s ({summary['realtime_factor']:.1f}x realtime). "
            f"Outputs: {out_dir}/(timeline.csv, playlist.json, playlist.m3u, summary.json, timeline.png)"
        )
    return summary


def _timeline_row(t: float, fp: Any, stab: np.ndarray, held: bool, play: Any) -> dict[str, Any]:
    def sd(v: np.ndarray | None, i: int) -> float:
        return float(np.sqrt(v[i])) if v is not None and np.isfinite(v[i]) else float("nan")

    row = {
        "t_s": round(float(t), 3),
        "scene_valence": fp.scene_mean[0],
        "scene_arousal": fp.scene_mean[1],
        "scene_valence_sd": sd(fp.scene_var, 0),
        "scene_arousal_sd": sd(fp.scene_var, 1),
        "face_found": int(fp.face_found),
        "face_valence": fp.face_mean[0] if fp.face_found else np.nan,
        "face_arousal": fp.face_mean[1] if fp.face_found else np.nan,
        "face_valence_sd": sd(fp.face_var, 0),
        "face_arousal_sd": sd(fp.face_var, 1),
        "fused_valence": fp.fused_mean[0],
        "fused_arousal": fp.fused_mean[1],
        "fused_valence_sd": sd(fp.fused_var, 0),
        "fused_arousal_sd": sd(fp.fused_var, 1),
        "stab_valence": stab[0],
        "stab_arousal": stab[1],
        "held": int(held),
        "station": play.station,
        "song_id": play.song_id,
    }
    return row


def _write_outputs(
    out_dir: Path,
    cfg: DictConfig,
    video: Any,
    rows: list[dict],
    playlist: list,
    catalog: Catalog,
    matcher: Any,
    info: Any,
    video_s: float,
    processing_s: float,
    truncated: bool,
    stage_seconds: dict[str, float],
) -> dict[str, Any]:
    from emotune.data.scales import FINDINGEMO

    tl = pd.DataFrame(rows)
    # V-A columns are on the [-1, 1] reference; FindingEmo-unit copies of the stabilized track help readers.
    fe = FINDINGEMO.from_ref(tl[["stab_valence", "stab_arousal"]].to_numpy())
    tl["stab_valence_fe"], tl["stab_arousal_fe"] = fe[:, 0], fe[:, 1]
    with atomic_path(out_dir / "timeline.csv") as tmp:
        tl.round(4).to_csv(tmp, index=False)
    songs = []
    for p in playlist:
        meta = song_meta(catalog, p.row)
        songs.append(
            {
                **meta,
                "start_s": round(p.start_s, 2),
                "end_s": round(float(p.end_s), 2),
                "station": p.station,
                "target_valence_ref": round(float(p.target[0]), 3),
                "target_arousal_ref": round(float(p.target[1]), 3),
            }
        )
    write_json_atomic(out_dir / "playlist.json", {"scale": catalog.scale.name, "songs": songs})
    m3u = ["#EXTM3U"]
    for s in songs:
        title = " - ".join(x for x in (s.get("artist"), s.get("title")) if x) or f"song {s['song_id']}"
        m3u.append(f"#EXTINF:{round(s['end_s'] - s['start_s'])},{title}")
        m3u.append(s.get("path") or f"{s['song_id']}.mp3")
    write_text_atomic(out_dir / "playlist.m3u", "\n".join(m3u) + "\n")

    dwell_violations = sum(
        1
        for i, p in enumerate(playlist[:-1])
        if (p.end_s - p.start_s) + 1e-6 < min(matcher.min_dwell_s, matcher.durations[p.row])
    )
    ids = [p.song_id for p in playlist]
    repeats = sum(1 for i, s in enumerate(ids) if s in ids[max(0, i - matcher.memory) : i])
    summary = {
        "video": str(video),
        "video_seconds": round(video_s, 2),
        "frames_analysed": len(rows),
        "analysis_fps": float(cfg.perceive.fps),
        "processing_seconds": round(processing_s, 2),
        "realtime_factor": round(video_s / max(processing_s, 1e-9), 2),
        "face_found_fraction": round(float(tl["face_found"].mean()), 4),
        "switches": max(0, len(playlist) - 1),
        "dwell_violations": dwell_violations,
        "repeats_within_memory": repeats,
        "mode": cfg.matcher.mode,
        "stabilizer": cfg.stabilizer._target_.rsplit(".", 1)[-1],
        "stations": matcher.n_stations,
        "catalog": {"name": catalog.name, "songs": len(catalog), "scale": catalog.scale.name},
        "truncated": truncated,
        "video_notes": info.notes,
        "stage_seconds": stage_seconds,
        "songs": [
            {k: s[k] for k in ("song_id", "start_s", "end_s", "valence", "arousal", "station")} for s in songs
        ],
    }
    write_json_atomic(out_dir / "summary.json", summary)
    from emotune.pipeline.plots import timeline_figure

    timeline_figure(tl, songs, catalog, matcher, out_dir / "timeline.png", gt_csv=_ground_truth(video))
    return summary


def _ground_truth(video: Any) -> Path | None:
    p = Path(str(video)).with_suffix(".va.csv")
    return p if p.is_file() else None
