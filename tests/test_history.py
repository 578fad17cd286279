"""``python -m emotune.history``: the summary, the JSON export's shape, the CSV table, Forget me; one-line errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emotune.runtime.history import main
from emotune.runtime.listening import Listening
from emotune.store import ListenerStore, StoreSettings

from .test_personal import matcher, tagged_catalog


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = ListenerStore.open(StoreSettings(url=url, busy_timeout_s=10, trace_every_s=1.0, stale_after_s=60))
    m = matcher(tagged_catalog())
    for session in range(2):
        m.reset()
        lst = Listening(m, store, "ana", source="driver")
        for t in range(90):
            mood = np.array([0.5 - 0.01 * t, 0.6 - 0.012 * t])
            m.update(float(t), mood)
            lst.after_update(float(t), mood, [0.1, 0.1], True)
            if t == 40 + session:
                lst.feedback(float(t), ("like", "dislike")[session])
        m.finish(90.0)
        lst.finish({"session": session})
    store.close()
    return url


def test_summary_export_and_forget(store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main(["listener=ana", f"store.url={store_url}"])
    out = capsys.readouterr().out
    assert out.startswith("Listener ana: 2 session(s)") and "liked songs" in out and "disliked songs" in out
    main(["listener=ana", f"store.url={store_url}", f"export={tmp_path / 'h.json'}"])
    data = json.loads((tmp_path / "h.json").read_text())
    assert set(data) == {"listener", "sessions"} and data["listener"] == "ana" and len(data["sessions"]) == 2
    s = data["sessions"][0]
    assert {"id", "start", "end", "finished", "mode", "plays", "feedback", "trace"} <= set(s)
    assert s["finished"] and len(s["trace"]) == 90 and s["trace"][0]["sigma"] == [0.1, 0.1] and s["plays"]
    main(["listener=ana", f"store.url={store_url}", f"export={tmp_path / 'h.csv'}"])
    table = pd.read_csv(tmp_path / "h.csv")
    assert set(table["kind"]) == {"trace", "play", "feedback"} and (table["kind"] == "trace").sum() == 180
    main(["listener=ana", f"store.url={store_url}", "forget=true"])
    assert "nothing of them is left" in capsys.readouterr().out
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
        for table_name in ("listeners", "sessions", "trace", "plays", "feedback", "preferences"):
            assert conn.execute(f"SELECT count(*) FROM {table_name}").fetchone()[0] == 0, table_name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["listener=bob"], "listener='bob' is not in store.url="),
        (["listener=ana", "export=h.txt"], "must end in .json"),
    ],
)
def test_bad_input_is_one_line(store_url: str, args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*args, f"store.url={store_url}"])
    err = capsys.readouterr()
    assert exit_.value.code == 2 and err.out == "" and err.err.startswith("error: ") and message in err.err
    assert err.err.count("\n") == 1
