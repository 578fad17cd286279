"""A listener's history read back from the store: sessions, traces, plays, feedback, the songs that calmed or lifted
them, and the export (``{"listener", "sessions": [...]}`` as JSON, or one flat table as CSV)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pandas as pd
from sqlalchemy import select

from emotune.store.schema import FeedbackRecord, Listener, PlayRecord, SessionRecord, TraceRecord
from emotune.store.store import ListenerStore

CSV_COLUMNS = ("listener", "session", "session_start", "mode", "kind", "t_s", "song_id", "valence", "arousal",
               "sigma_v", "sigma_a", "face", "end_s", "ended", "event", "undone")  # fmt: skip


def _iso(x: Any) -> str | None:
    return None if x is None else x.isoformat(timespec="seconds") + "Z"


def export_listener(store: ListenerStore, listener_id: int) -> dict[str, Any]:
    """Everything the store holds of a listener, sessions oldest first (``{"listener": name, "sessions": [...]}``; each
    session with its ``plays``, ``feedback`` and ``trace``)."""
    with store.orm() as s:
        name = s.scalar(select(Listener.name).where(Listener.id == listener_id))
        sessions = s.scalars(select(SessionRecord).where(SessionRecord.listener_id == listener_id)
                             .order_by(SessionRecord.id)).all()  # fmt: skip
        ids = [r.id for r in sessions]
        plays, fb, trace = defaultdict(list), defaultdict(list), defaultdict(list)
        for p in s.scalars(select(PlayRecord).where(PlayRecord.session_id.in_(ids)).order_by(PlayRecord.id)):
            plays[p.session_id].append({"song_id": p.song_id, "start_s": p.start_s, "end_s": p.end_s,
                                        "ended": p.ended, "why": json.loads(p.why)})  # fmt: skip
        for f in s.scalars(select(FeedbackRecord).where(FeedbackRecord.listener_id == listener_id)
                           .order_by(FeedbackRecord.id)):  # fmt: skip
            fb[f.session_id].append({"id": f.id, "event": f.event, "song_id": f.song_id, "t_s": f.t_s,
                                     "valence": f.valence, "arousal": f.arousal, "at": _iso(f.at), "undone": f.undone})  # fmt: skip
        q = select(TraceRecord).where(TraceRecord.session_id.in_(ids)).order_by(TraceRecord.id)
        for t in s.scalars(q):
            sigma = None if t.sigma_v is None else [t.sigma_v, t.sigma_a]
            trace[t.session_id].append({"t_s": t.t_s, "valence": t.valence, "arousal": t.arousal, "sigma": sigma,
                                        "face": t.face})  # fmt: skip
    out = []
    for r in sessions:
        out.append({
            "id": r.id, "start": _iso(r.started_at), "end": _iso(r.ended_at), "finished": r.finished, "mode": r.mode,
            "source": r.source, "catalogue": r.catalogue, "catalogue_fingerprint": r.catalogue_fingerprint,
            "model_set": r.model_set, "summary": None if r.summary is None else json.loads(r.summary),
            "plays": plays[r.id], "feedback": fb[r.id], "trace": trace[r.id],
        })  # fmt: skip
    return {"listener": name, "sessions": out}


def flat_rows(data: dict[str, Any]) -> pd.DataFrame:
    """The export as one table: a row per trace point, play and feedback event (``kind``), with its session."""
    rows = []
    for s in data["sessions"]:
        base = {"listener": data["listener"], "session": s["id"], "session_start": s["start"], "mode": s["mode"]}
        for t in s["trace"]:
            sigma = t["sigma"] or [None, None]
            rows.append({**base, "kind": "trace", "t_s": t["t_s"], "valence": t["valence"], "arousal": t["arousal"],
                         "sigma_v": sigma[0], "sigma_a": sigma[1], "face": t["face"]})  # fmt: skip
        for p in s["plays"]:
            rows.append({**base, "kind": "play", "t_s": p["start_s"], "song_id": p["song_id"], "end_s": p["end_s"],
                         "ended": p["ended"]})  # fmt: skip
        for f in s["feedback"]:
            rows.append({**base, "kind": "feedback", "t_s": f["t_s"], "song_id": f["song_id"], "event": f["event"],
                         "valence": f["valence"], "arousal": f["arousal"], "undone": f["undone"]})  # fmt: skip
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def session_table(data: dict[str, Any]) -> pd.DataFrame:
    """One row per session: when, how long, its mode, its mood at the start and the end (mean of the first and last
    10 trace points), songs, skips, likes, dislikes, finished."""
    rows = []
    for s in data["sessions"]:
        tr = pd.DataFrame(s["trace"], columns=["t_s", "valence", "arousal", "sigma", "face"])
        ev = pd.Series([f["event"] for f in s["feedback"]], dtype=object)
        head, tail = tr.head(10), tr.tail(10)
        rows.append({
            "session": s["id"], "start": s["start"], "mode": s["mode"], "source": s["source"],
            "minutes": round(float(tr["t_s"].max() - tr["t_s"].min()) / 60, 1) if len(tr) else 0.0,
            "valence_start": head["valence"].mean(), "arousal_start": head["arousal"].mean(),
            "valence_end": tail["valence"].mean(), "arousal_end": tail["arousal"].mean(),
            "songs": len(s["plays"]), "skips": int((ev == "skip").sum()), "likes": int((ev == "like").sum()),
            "dislikes": int((ev == "dislike").sum()), "finished": s["finished"],
        })  # fmt: skip
    return pd.DataFrame(rows)


def song_effects(data: dict[str, Any], min_change: float = 0.1) -> pd.DataFrame:
    """Per song played at least once through: plays, the mean change of valence and arousal while it played (from
    the mood at its start to its end), and ``effect``: ``calmed`` (arousal fell by ``min_change`` or more),
    ``lifted`` (valence rose by it), else empty. Sorted by the size of the change."""
    rows = []
    for s in data["sessions"]:
        tr = pd.DataFrame(s["trace"], columns=["t_s", "valence", "arousal", "sigma", "face"])
        if tr.empty:
            continue
        for p in s["plays"]:
            if p["end_s"] is None or p["ended"] == "skipped":
                continue
            during = tr[(tr["t_s"] >= p["start_s"]) & (tr["t_s"] <= p["end_s"])]
            if len(during) < 2:
                continue
            rows.append({"song_id": p["song_id"], "d_valence": during["valence"].iloc[-1] - during["valence"].iloc[0],
                         "d_arousal": during["arousal"].iloc[-1] - during["arousal"].iloc[0]})  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=["song_id", "plays", "d_valence", "d_arousal", "effect"])
    df = pd.DataFrame(rows).groupby("song_id").agg(plays=("d_valence", "size"), d_valence=("d_valence", "mean"),
                                                   d_arousal=("d_arousal", "mean")).reset_index()  # fmt: skip
    df["effect"] = [
        "calmed" if da <= -min_change and da <= -dv else "lifted" if dv >= min_change else ""
        for dv, da in zip(df["d_valence"], df["d_arousal"])
    ]
    df["size"] = df[["d_valence", "d_arousal"]].abs().max(axis=1)
    return df.sort_values("size", ascending=False).drop(columns="size").reset_index(drop=True)


def opinions(data: dict[str, Any]) -> pd.DataFrame:
    """Likes and dislikes still standing (not undone), newest first, with the feedback id History's undo takes."""
    rows = [
        {"id": f["id"], "event": f["event"], "song_id": f["song_id"], "at": f["at"], "session": s["id"]}
        for s in data["sessions"]
        for f in s["feedback"]
        if f["event"] in ("like", "dislike") and not f["undone"]
    ]
    return pd.DataFrame(rows, columns=["id", "event", "song_id", "at", "session"]).sort_values("id", ascending=False)
