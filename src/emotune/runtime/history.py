"""``python -m emotune.history listener=NAME [export=FILE.json|FILE.csv] [forget=true]``: a listener's history.

Without ``export`` or ``forget`` it prints a summary (sessions, listening time, feedback, the songs that calmed or
lifted them). ``export=FILE.json`` writes ``{"listener": ..., "sessions": [{"id", "start", "end", "finished", "mode",
"plays": [...], "feedback": [...], "trace": [...]}, ...]}``; ``export=FILE.csv`` one flat table (a row per trace point,
play and feedback event). ``forget=true`` deletes everything of the listener. All read ``store.url``
(``conf/history.yaml`` composes ``conf/store/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from emotune.runtime.cli_config import instantiate
from emotune.store import ListenerStore
from emotune.store.engine import shown
from emotune.store.history import export_listener, flat_rows, opinions, session_table, song_effects
from emotune.utils.command import command
from emotune.utils.errors import ConfigError
from emotune.utils.io import atomic_path, write_json_atomic


def find_listener(store: ListenerStore, name: str) -> int:
    """The listener's id, or a :class:`ConfigError` naming the known listeners."""
    lid = store.listener_id(name, create=False)
    if lid is None:
        known = store.listener_names()
        raise ConfigError(
            f"listener={name!r} is not in store.url={shown(store.settings.url)}; "
            + (f"known: {', '.join(known[:20])}." if known else "the store has no listener yet.")
        )
    return lid


def summary_text(data: dict[str, Any]) -> str:
    """The printed summary of an export."""
    sessions = session_table(data)
    lines = [f"Listener {data['listener']}: {len(sessions)} session(s)"]
    if sessions.empty:
        return lines[0]
    unfinished = int((~sessions["finished"].astype(bool)).sum())
    lines[0] += (f", {sessions['minutes'].sum():.0f} min, {sessions['start'].iloc[0]} .. {sessions['start'].iloc[-1]}"
                 f"{f', {unfinished} unfinished' if unfinished else ''}")  # fmt: skip
    lines.append(f"  songs {int(sessions['songs'].sum())}, skips {int(sessions['skips'].sum())}, "
                 f"likes {int(sessions['likes'].sum())}, dislikes {int(sessions['dislikes'].sum())}")  # fmt: skip
    ops = opinions(data)
    for event in ("like", "dislike"):
        ids = ops[ops["event"] == event]["song_id"].tolist()
        if ids:
            lines.append(f"  {event}d songs: {', '.join(ids[:12])}{' ...' if len(ids) > 12 else ''}")
    effects = song_effects(data)
    for effect in ("calmed", "lifted"):
        top = effects[effects["effect"] == effect].head(5)
        if len(top):
            lines.append(f"  songs that {effect} them: " + ", ".join(
                f"{r.song_id} (V {r.d_valence:+.2f}, A {r.d_arousal:+.2f})" for r in top.itertuples()))  # fmt: skip
    lines.append("  sessions (start, mode, minutes, mood start -> end, songs/skips/likes):")
    for r in sessions.tail(10).itertuples():
        lines.append(f"    {r.start} {r.mode:8s} {r.minutes:5.1f}  ({r.valence_start:+.2f}, {r.arousal_start:+.2f}) -> "
                     f"({r.valence_end:+.2f}, {r.arousal_end:+.2f})  {r.songs}/{r.skips}/{r.likes}"
                     f"{'' if r.finished else '  unfinished'}")  # fmt: skip
    return "\n".join(lines)


def history(cfg: DictConfig) -> str:
    """Run the command; returns what it printed."""
    export = str(cfg.export) if cfg.export else None
    if export and Path(export).suffix.lower() not in (".json", ".csv"):
        raise ConfigError(f"export={export} must end in .json or .csv (e.g. export=history.json).")
    store = ListenerStore.open(instantiate(cfg.store))
    try:
        lid = find_listener(store, str(cfg.listener))
        if cfg.forget:
            counts = store.count(lid)
            store.forget(lid)
            left = store.count(lid)
            assert not any(left.values()), left
            text = (f"Forgot listener {cfg.listener}: {counts['sessions']} sessions, {counts['trace']} trace points, "
                    f"{counts['plays']} plays, {counts['feedback']} feedback events, {counts['preferences']} learned "
                    "weights deleted; nothing of them is left in the store.")  # fmt: skip
        else:
            data = export_listener(store, lid)
            if export and export.lower().endswith(".json"):
                write_json_atomic(export, data)
                text = f"Wrote {export}: {len(data['sessions'])} session(s) of listener {cfg.listener}."
            elif export:
                with atomic_path(export) as tmp:
                    flat_rows(data).to_csv(tmp, index=False)
                text = f"Wrote {export}: {len(data['sessions'])} session(s) of listener {cfg.listener} as one table."
            else:
                text = summary_text(data)
    finally:
        store.close()
    print(text)
    return text


@command("history")
def main(cfg: DictConfig) -> None:
    """CLI (see the module docstring)."""
    history(cfg)
