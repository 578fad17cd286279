"""The History tab's actions, without Gradio: a listener's mood map, sessions, songs that calmed or lifted them, likes
and dislikes with undo, export (JSON, CSV) and Forget me. Every failure is a message, never a dead page."""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from emotune.app.listener import ListenerDesk
from emotune.store.history import export_listener, flat_rows, opinions, session_table, song_effects
from emotune.utils.errors import ConfigError, DataError
from emotune.utils.io import atomic_path, write_json_atomic
from emotune.viz.listener import mood_map, session_trace

log = logging.getLogger(__name__)


@dataclass
class HistoryView:
    """What the History tab shows for a listener."""

    status: str
    figure: Figure | None = None
    sessions: pd.DataFrame = field(default_factory=pd.DataFrame)
    session_choices: list[str] = field(default_factory=list)
    effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    opinions: pd.DataFrame = field(default_factory=pd.DataFrame)
    opinion_choices: list[str] = field(default_factory=list)


class HistoryPage:
    """The History tab over the page's :class:`ListenerDesk`.

    Args:
        desk: the page's listener desk (its store).
        runs_dir: the page's run folders (exports are written under ``runs_dir/.exports``; Forget me removes the
            listener's run folders and exports).
    """

    def __init__(self, desk: ListenerDesk, runs_dir: Path) -> None:
        self.desk, self.runs_dir = desk, Path(runs_dir)

    def _data(self, name: str | None) -> tuple[int, dict[str, Any]]:
        who = self.desk.name(name)
        if who is None:
            raise ConfigError("type a listener's name in the Listener box first.")
        lid = self.desk.store.listener_id(who, create=False)
        if lid is None:
            raise DataError(f"no history for listener {who!r} yet: listen with that name first.")
        return lid, export_listener(self.desk.store, lid)

    def show(self, name: str | None) -> HistoryView:
        """The listener's whole history."""
        lid, data = self._data(name)
        sessions = session_table(data)
        choices = [f"{r.session}: {r.start} {r.mode} ({r.minutes} min)" for r in sessions.iloc[::-1].itertuples()]
        ops = opinions(data)
        effects = song_effects(data)
        counts = self.desk.store.count(lid)
        status = (f"**{data['listener']}**: {len(sessions)} session(s), {counts['trace']} mood points, "
                  f"{counts['plays']} plays, {counts['feedback']} feedback events.")  # fmt: skip
        return HistoryView(status, mood_map(data), sessions.round(2), choices,
                           effects[effects["effect"] != ""].round(3).head(20), ops,
                           [f"{r.id}: {r.event} song {r.song_id}" for r in ops.itertuples()])  # fmt: skip

    def session(self, name: str | None, choice: str | None) -> tuple[Figure | None, pd.DataFrame]:
        """One session's trace and songs."""
        if not choice:
            return None, pd.DataFrame()
        _, data = self._data(name)
        sid = int(str(choice).split(":", 1)[0])
        s = next((x for x in data["sessions"] if x["id"] == sid), None)
        if s is None:
            raise DataError(f"session {sid} is not {data['listener']}'s.")
        songs = pd.DataFrame([{"#": i, "song": p["song_id"], "from (s)": p["start_s"], "to (s)": p["end_s"],
                               "ended": p["ended"], "why": (p["why"] or {}).get("step", "")}
                              for i, p in enumerate(s["plays"], 1)])  # fmt: skip
        return session_trace(s), songs

    def undo(self, name: str | None, choice: str | None) -> HistoryView:
        """Undo a like or a dislike (a disliked song may play again)."""
        lid, _ = self._data(name)
        if not choice:
            raise DataError("pick a like or dislike to undo.")
        fid = int(str(choice).split(":", 1)[0])
        done = self.desk.store.undo(lid, fid)
        view = self.show(name)
        view.status = f"Undone: {choice.split(':', 1)[1].strip()}." if done else "Nothing to undo there."
        return view

    def folder(self, name: str) -> Path:
        """The listener's export folder (named by a hash, not the name)."""
        return self.runs_dir / ".exports" / hashlib.sha1(name.encode()).hexdigest()[:16]

    def export(self, name: str | None, kind: str) -> tuple[Path, str]:
        """The history as ``history.json`` or ``history.csv``; the file and a status line."""
        _, data = self._data(name)
        path = self.folder(data["listener"]) / f"history.{kind}"
        if kind == "json":
            write_json_atomic(path, data)
        else:
            with atomic_path(path) as tmp:
                flat_rows(data).to_csv(tmp, index=False)
        return path, f"Exported {len(data['sessions'])} session(s) of {data['listener']} as {path.name}."

    def forget(self, name: str | None, confirmed: bool) -> str:
        """Forget me: everything of the listener in the store, their run folders and exports."""
        if not confirmed:
            raise DataError("tick 'I understand' first: Forget me deletes this listener's whole history.")
        lid, data = self._data(name)
        runs = self.desk.store.forget(lid)
        root = self.runs_dir.resolve()
        removed = 0
        for r in [*runs, str(self.folder(data["listener"]))]:
            p = Path(r).resolve()
            if root in p.parents and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                removed += 1
        left = self.desk.store.count(lid)
        assert not any(left.values()), left
        return (f"**Forgotten**: {data['listener']}'s {len(data['sessions'])} session(s), mood traces, plays, feedback "
                f"and learned preferences are deleted ({removed} folder(s) removed); nothing of them is left.")  # fmt: skip
