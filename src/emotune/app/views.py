"""What the page draws from a run's outputs: the valence-arousal plane, the playlist table, status lines."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from emotune.utils.scales import get_scale

if TYPE_CHECKING:
    from emotune.app.engine import LiveUpdate

TABLE_COLUMNS = ["#", "song", "artist", "from (s)", "to (s)", "station", "audio", "why"]
QUADRANTS = (("tense", -0.55, 0.9), ("excited", 0.55, 0.9), ("sad", -0.55, -0.95), ("calm", 0.55, -0.95))


def song_title(song: dict[str, Any]) -> str:
    """A song's name for people: its title, else its id."""
    return str(song.get("title") or f"song {song['song_id']}")


def songs_ref(songs: list[dict[str, Any]], scale: str) -> np.ndarray:
    """``(n, 2)`` the playlist's songs on the [-1, 1] reference plane (their V-A is on the catalogue's scale)."""
    va = np.array([[s["valence"], s["arousal"]] for s in songs], dtype=np.float64).reshape(-1, 2)
    return get_scale(scale).to_ref(va)


def va_plane(trail: np.ndarray, songs: list[dict[str, Any]], scale: str, catalog_ref: np.ndarray, title: str) -> Figure:
    """The mood trail (oldest pale, newest dark) over the catalogue's songs, the playlist numbered in order."""
    fig = Figure(figsize=(5.6, 5.2))
    ax = fig.subplots()
    if len(catalog_ref):
        ax.scatter(catalog_ref[:, 0], catalog_ref[:, 1], s=5, color="#9aa5b1", alpha=0.35, label="catalogue")
    trail = np.asarray(trail, dtype=np.float64).reshape(-1, 2)
    if len(trail) > 1:
        shade = np.linspace(0.15, 1.0, len(trail))
        ax.plot(trail[:, 0], trail[:, 1], color="black", lw=0.8, alpha=0.5)
        ax.scatter(trail[:, 0], trail[:, 1], c=shade, cmap="Greys", vmin=0, vmax=1, s=9, label="mood (stabilized)")
    if len(trail):
        ax.scatter(trail[-1, 0], trail[-1, 1], s=110, color="crimson", edgecolor="white", zorder=6, label="mood now")
    pts = songs_ref(songs, scale)
    if len(pts):
        ax.plot(pts[:, 0], pts[:, 1], color="goldenrod", lw=1, ls="--", zorder=4)
        ax.scatter(pts[:, 0], pts[:, 1], s=180, marker="*", color="gold", edgecolor="black", zorder=5, label="playlist")
        for i, (x, y) in enumerate(pts, 1):
            ax.annotate(str(i), (x, y), xytext=(6, 5), textcoords="offset points", fontsize=9, weight="bold")
    for name, x, y in QUADRANTS:
        ax.text(x, y, name, ha="center", va="center", color="#7b8794", fontsize=9)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), xlabel="valence", ylabel="arousal", aspect="equal")
    ax.set_title(title, pad=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=4, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def describe_why(why: dict[str, Any]) -> str:
    """``playlist.json``'s ``why`` as one readable line (the step, mood, target, distance, stations searched)."""
    if not why:
        return ""
    parts = [str(why.get("step", ""))]
    if "mood" in why:
        parts.append("mood ({:+.2f}, {:+.2f})".format(*why["mood"]))
    if "target" in why:
        parts.append("target ({:+.2f}, {:+.2f})".format(*why["target"]))
    if "distance" in why:
        parts.append(f"distance {why['distance']:.2f}")
    if why.get("stations"):
        parts.append("stations " + ",".join(str(s) for s in why["stations"]))
    return "; ".join(p for p in parts if p)


def playlist_table(songs: list[dict[str, Any]], has_audio: list[bool]) -> pd.DataFrame:
    """The playlist as the page's table, one row per song with why it was chosen."""
    rows = [
        [
            i,
            song_title(s),
            s.get("artist", ""),
            s["start_s"],
            s["end_s"],
            s["station"],
            "yes" if a else "no",
            describe_why(s.get("why", {})),
        ]
        for i, (s, a) in enumerate(zip(songs, has_audio), 1)
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def clip_status(summary: dict[str, Any], run_name: str) -> str:
    """The line under a finished clip: songs, duration, speed, faces, where the outputs are."""
    n = summary.get("switches", 0) + 1
    face = summary.get("face_found_fraction")
    lines = [
        f"**Done**: {n} song{'s' * (n != 1)} over {summary.get('video_seconds', 0):.0f} s of video, "
        f"analysed in {summary.get('processing_seconds', 0):.1f} s ({summary.get('realtime_factor', 0):.1f}x realtime); "
        f"run folder `{run_name}`."
    ]
    if summary.get("checkpoints_missing"):
        lines.append(
            f"Only the {' and '.join(summary.get('paths_run', ['scene']))} path(s) ran: this model set has no "
            f"{' or '.join(summary['checkpoints_missing'])} checkpoint."
        )
    if face is not None:
        lines.append(f"A face was found in {100 * face:.0f} % of the analysed frames.")
        if face == 0:
            lines.append(
                "**No face**: the mood came from the scene alone. Set it by hand in the *Manual mood* tab if it "
                "looks wrong."
            )
    if summary.get("truncated"):
        lines.append("The file ended before its stated length (truncated?): the results cover what could be read.")
    return "  \n".join(lines)


def error_status(message: str) -> str:
    """An error line for the page (``error: ...``, as the command line prints it)."""
    return f"**error:** {message}"


def live_html(upd: LiveUpdate | None, message: str = "", n: int = 0) -> str:
    """The webcam's live line: the mood, face or not, the song playing; ``data-update`` counts the updates."""
    if upd is None:
        return f'<div class="live-mood" data-update="0">{html.escape(message.replace("**", ""))}</div>'
    v, a = upd.mood
    quadrant = ("excited" if v >= 0 else "tense") if a >= 0 else ("calm" if v >= 0 else "sad")
    song = upd.song
    title = html.escape(song_title(song) + (f" - {song['artist']}" if song.get("artist") else ""))
    flags = ("face" if upd.face_found else "no face (scene only)") + (", holding (uncertain)" if upd.held else "")
    step = html.escape(str(song.get("why", {}).get("step", "")))
    return (
        f'<div class="live-mood" data-update="{n}" data-t="{upd.t_s:.2f}" data-ms="{upd.chain_ms:.0f}">'
        f"<b>Mood</b>: valence <b>{v:+.2f}</b>, arousal <b>{a:+.2f}</b> ({quadrant}); {flags}<br>"
        f"<b>Now playing</b>: {title} (station {song.get('station', '?')}) &middot; {step}<br>"
        f'<span class="live-count">update {n} at t = {upd.t_s:.1f} s; this frame took {upd.chain_ms:.0f} ms in the '
        "chain</span></div>"
    )
