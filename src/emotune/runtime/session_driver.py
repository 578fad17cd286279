"""``python -m emotune.session [key=value ...]``: a listening session for another program, JSON lines in and out.

It composes ``conf/infer.yaml`` (the same stabilizer, matcher, catalogue, ``listener`` and ``store`` settings as
``infer.py``) and reads one JSON object per line on stdin:

* a mood reading ``{"t": 12.0, "valence": -0.4, "arousal": 0.6}`` on the [-1, 1] reference scale PERCEIVE outputs,
  optionally ``"sigma": [sv, sa]`` (its s.d.; absent: fully trusted) and ``"face": true|false`` (absent: true);
* a feedback event ``{"t": 40.0, "event": "skip" | "like" | "dislike"}``.

Every line gets exactly one flushed JSON line back: ``{"t": ..., "song_id": "...", "switched": true|false, "why":
{...}}`` (``switched``: the song changed on this line, the first song included), or ``{"error": "..."}`` for a bad
line, after which the session goes on; ``t`` must not go backwards. At the end of the input the session is saved and
``{"session": ID, "summary": {...}}`` printed (``session`` is null without a listener: nothing is stored).
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

import numpy as np
from omegaconf import DictConfig

from emotune.pipeline.matcher import SongMatcher
from emotune.pipeline.stabilizer import Stabilizer
from emotune.runtime.cli_config import instantiate
from emotune.runtime.listening import EVENTS, Listening
from emotune.store import ListenerStore
from emotune.utils.command import command
from emotune.utils.errors import DataError, EmotuneError

log = logging.getLogger("emotune.session")


def _number(obj: dict[str, Any], key: str, low: float | None = None, high: float | None = None) -> float:
    raw = obj.get(key)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise DataError(f"{key}={raw!r} must be a finite number.")
    if (low is not None and raw < low) or (high is not None and raw > high):
        raise DataError(f"{key}={raw!r} is outside [{low}, {high}]; send V-A on PERCEIVE's [-1, 1] reference scale.")
    return float(raw)


class SessionDriver:
    """The protocol over one session (the module docstring): :meth:`handle` per line, :meth:`end` at the end.

    Args:
        stabilizer: STABILIZE (``reset()`` here).
        matcher: MATCH (``reset()`` here).
        store: the listener store (``None`` without a listener).
        listener: the listener's name (``None``: no personalisation, nothing stored).
        source: what the session is, for the store.
    """

    def __init__(self, stabilizer: Stabilizer, matcher: SongMatcher, store: ListenerStore | None,
                 listener: str | None, source: str = "driver") -> None:  # fmt: skip
        stabilizer.reset()
        matcher.reset()
        self.stabilizer, self.matcher = stabilizer, matcher
        self.listening = Listening(matcher, store, listener, source=source)
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.readings = 0

    def handle(self, line: str) -> dict[str, Any]:
        """One input line's answer (never raises for bad input)."""
        try:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not a JSON object ({exc.msg}); send one object per line.") from None
            if not isinstance(obj, dict):
                raise DataError(f"{line.strip()[:60]!r} is not a JSON object; send one object per line.")
            return self._apply(obj)
        except EmotuneError as exc:
            return {"error": str(exc).splitlines()[0]}
        except Exception as exc:  # a bug must not end another program's session: report it on this line
            log.warning("internal error on line %r", line[:200], exc_info=True)
            return {"error": f"internal error ({type(exc).__name__}: {str(exc)[:200]}); the session goes on."}

    def _apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        t = _number(obj, "t")
        if self.t_last is not None and t < self.t_last:
            raise DataError(f"t={t} goes backwards (the last line had t={self.t_last}); t must not decrease.")
        before = self.matcher.current
        if "event" in obj:
            if "valence" in obj or "arousal" in obj:
                raise DataError("a line is either a mood reading or a feedback event, not both.")
            event = obj["event"]
            if event not in EVENTS:
                raise DataError(f"event={event!r} is not one of: {', '.join(EVENTS)}.")
            play = self.listening.feedback(t, event)
        else:
            play = self._reading(obj, t)
        self.t_last = t
        return {"t": t, "song_id": play.song_id, "switched": play is not before, "why": play.why}

    def _reading(self, obj: dict[str, Any], t: float) -> Any:
        va = np.array([_number(obj, "valence", -1, 1), _number(obj, "arousal", -1, 1)])
        sigma = obj.get("sigma")
        if sigma is not None:
            ok = isinstance(sigma, list) and len(sigma) == 2
            ok = ok and all(not isinstance(s, bool) and isinstance(s, int | float) and s >= 0 for s in sigma)
            if not ok:
                raise DataError(f"sigma={sigma!r} must be [s.d. of valence, s.d. of arousal], two numbers >= 0.")
        face = obj.get("face", True)
        if not isinstance(face, bool):
            raise DataError(f"face={face!r} must be true or false.")
        var = np.zeros(2) if sigma is None else np.square(np.asarray(sigma, float))
        dt = 0.25 if self.t_last is None else t - self.t_last
        stab = self.stabilizer.update(va, var, face, dt)
        play = self.matcher.update(t, stab)
        self.listening.after_update(t, stab, sigma, face)
        self.t_first = t if self.t_first is None else self.t_first
        self.readings += 1
        return play

    def end(self) -> dict[str, Any]:
        """Close the session: the summary line (and the store's session, finished, its evidence learned)."""
        m = self.matcher
        t_end = self.t_last if self.t_last is not None else 0.0
        plays = m.finish(t_end)
        summary = {
            "mode": m.mode,
            "readings": self.readings,
            "seconds": round(t_end - (self.t_first or 0.0), 3),
            "songs": [{"song_id": p.song_id, "start_s": p.start_s, "end_s": p.end_s, "ended": p.ended} for p in plays],
            "switches": max(0, len(plays) - 1),
            **self.listening.summary(),
            **(m.report() if plays else {}),
        }
        self.listening.finish(summary)
        return {"session": self.listening.session_id, "summary": summary}


def build_driver(cfg: DictConfig, source: str = "driver") -> SessionDriver:
    """A driver from a composed ``conf/infer.yaml`` (no models: the readings are PERCEIVE's output)."""
    listener = cfg.get("listener")
    store = ListenerStore.open(instantiate(cfg.store)) if listener else None
    return SessionDriver(instantiate(cfg.stabilizer), instantiate(cfg.matcher), store, listener, source)


def _safe(obj: Any) -> Any:
    """``obj`` with NaN and infinities as ``null`` and numpy scalars as numbers (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj: dict[str, Any]) -> str:
    """One protocol line (strict JSON)."""
    return json.dumps(_safe(obj), allow_nan=False, default=str)


def run(driver: SessionDriver, lines: Iterable[str], out: TextIO) -> Iterator[dict[str, Any]]:
    """Answer each line on ``out`` (flushed), then the summary; yields what was written."""
    for line in lines:
        answer = driver.handle(line)
        out.write(dumps(answer) + "\n")
        out.flush()
        yield answer
    final = driver.end()
    out.write(dumps(final) + "\n")
    out.flush()
    yield final


ABOUT = (
    "python -m emotune.session [listener=NAME] [key=value ...]: a listening session driven by "
    "JSON lines on stdin, one JSON line back per line (protocol: emotune.runtime.session_driver, docs/listener.md)"
)


@command("infer", overrides=("hydra=command", "hydra.job.name=session", f"hydra.help.header='{ABOUT}'"))
def main(cfg: DictConfig) -> None:
    """CLI: ``python -m emotune.session [listener=NAME] [matcher/policy=guide] [key=value ...]`` (``conf/infer.yaml``:
    the same stabilizer, matcher, catalogue, listener and store settings as ``infer.py``)."""
    driver = build_driver(cfg)
    for _ in run(driver, sys.stdin, sys.stdout):
        pass
