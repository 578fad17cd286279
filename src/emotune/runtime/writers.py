"""What one analysed video leaves behind: ``timeline.csv``, ``playlist.json``/``.m3u``, ``summary.json`` and
``timeline.png`` (every file written atomically, following the umask)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd

from emotune.data.catalog import Catalog
from emotune.media.video import VideoInfo
from emotune.pipeline.chain import Pipeline, TimelineRow
from emotune.pipeline.play import Play
from emotune.utils.io import atomic_path, write_json_atomic, write_text_atomic
from emotune.utils.scales import FINDINGEMO

OUTPUTS = ("timeline.csv", "playlist.json", "playlist.m3u", "summary.json", "timeline.png")


@dataclass
class VideoRun:
    """Everything one video's analysis produced."""

    video: str
    info: VideoInfo
    rows: list[TimelineRow]
    playlist: list[Play]
    video_seconds: float
    processing_seconds: float
    truncated: bool
    stage_seconds: dict[str, float] = field(default_factory=dict)


def playlist_entries(playlist: list[Play], catalog: Catalog) -> list[dict[str, Any]]:
    """``playlist.json``'s songs: metadata, play window, station and why each was chosen."""
    return [
        {
            **catalog.song_meta(p.row),
            "start_s": round(p.start_s, 2),
            "end_s": round(float(cast(float, p.end_s)), 2),  # finish() closed the last play
            "station": p.station,
            "why": p.why,
        }
        for p in playlist
    ]


def timeline_frame(rows: list[TimelineRow]) -> pd.DataFrame:
    """The timeline as a table; V-A on the [-1, 1] reference, plus FindingEmo-unit copies of the stabilized track."""
    tl = pd.DataFrame([r.as_dict() for r in rows])
    fe = FINDINGEMO.from_ref(tl[["stab_valence", "stab_arousal"]].to_numpy())
    tl["stab_valence_fe"], tl["stab_arousal_fe"] = fe[:, 0], fe[:, 1]
    return tl


def write_m3u(songs: list[dict[str, Any]], path: Path) -> None:
    """An extended M3U a music player opens (file paths where the catalogue has them)."""
    lines = ["#EXTM3U"]
    for s in songs:
        title = " - ".join(x for x in (s.get("artist"), s.get("title")) if x) or f"song {s['song_id']}"
        lines += [f"#EXTINF:{round(s['end_s'] - s['start_s'])},{title}", s.get("path") or f"{s['song_id']}.mp3"]
    write_text_atomic(path, "\n".join(lines) + "\n")


def write_outputs(out_dir: Path, run: VideoRun, pipeline: Pipeline) -> dict[str, Any]:
    """Write every output of one video and return the summary."""
    from emotune.viz.timeline import timeline_figure

    catalog = pipeline.matcher.catalog
    tl = timeline_frame(run.rows)
    with atomic_path(out_dir / "timeline.csv") as tmp:
        tl.round(4).to_csv(tmp, index=False)
    songs = playlist_entries(run.playlist, catalog)
    write_json_atomic(out_dir / "playlist.json", {"scale": catalog.scale.name, "songs": songs})
    write_m3u(songs, out_dir / "playlist.m3u")
    summary = {
        "video": run.video,
        "video_seconds": round(run.video_seconds, 2),
        "frames_analysed": len(run.rows),
        "processing_seconds": round(run.processing_seconds, 2),
        "realtime_factor": round(run.video_seconds / max(run.processing_seconds, 1e-9), 2),
        # null without a face path: no face was looked for (summary's paths_run says which paths ran)
        "face_found_fraction": round(float(tl["face_found"].mean()), 4) if pipeline.perceiver.face else None,
        "scene_fresh_fraction": round(float(tl["scene_fresh"].mean()), 4),
        "switches": max(0, len(songs) - 1),
        **pipeline.describe(),
        **pipeline.matcher.report(),
        "catalog": {"name": catalog.name, "songs": len(catalog), "scale": catalog.scale.name},
        "truncated": run.truncated,
        "video_notes": run.info.notes,
        "stage_seconds": run.stage_seconds,
        "songs": [{k: s[k] for k in ("song_id", "start_s", "end_s", "valence", "arousal", "station")} for s in songs],
    }
    write_json_atomic(out_dir / "summary.json", summary)
    timeline_figure(tl, songs, catalog, pipeline.matcher, out_dir / "timeline.png", gt_csv=ground_truth(run.video))
    return summary


def ground_truth(video: Any) -> Path | None:
    """A rendered clip's per-frame truth (``<stem>.va.csv``) when it exists."""
    p = Path(str(video)).with_suffix(".va.csv")
    return p if p.is_file() else None
