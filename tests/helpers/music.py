"""Small music folders in the real data sets' published layouts, from synthesised songs (tests that always run)."""

from __future__ import annotations

import json
from pathlib import Path

from emotune.audio.io import encode_audio
from emotune.data.fourq import ANNOTATIONS, METADATA, QUADRANT_SIGNS
from emotune.synthetic.music import synth_song

SR = 22050


def make_fourq(root: Path, per_quadrant: int = 5, seconds: float = 4.0) -> dict[str, list[str]]:
    """A 4Q folder: ``per_quadrant`` clips per quadrant (a synthesised song at the quadrant's V-A), both CSVs (the
    metadata in Latin-1, as published; clip ``i`` of every quadrant is by "The Band i", so artist-grouped folds can
    balance quadrants), plus one annotated clip without a file, one annotated clip that is not
    audio and one mp3 without an annotation. Returns the ids by kind."""
    ids: dict[str, list[str]] = {"good": [], "missing": ["MT9000000001"], "garbage": ["MT9000000002"]}
    rows, meta = [], []
    for qi, (q, (sv, sa)) in enumerate(QUADRANT_SIGNS.items()):
        (root / q).mkdir(parents=True, exist_ok=True)
        for i in range(per_quadrant):
            sid = f"MT{qi + 1}{i:09d}"
            encode_audio(
                root / q / f"{sid}.mp3", synth_song(0.7 * sv, 0.7 * sa, seed=10 * qi + i, sr=SR, seconds=seconds), SR
            )
            rows.append(f"{sid},{q}")
            meta.append(
                f'"{sid}","The Band {i}","Chanson {i} é","{q}",0.8,3,3,"a","A","A",1,"Pop/Rock; Jazz",1,"http://x"'
            )
            ids["good"].append(sid)
    rows += [f"{ids['missing'][0]},Q1", f"{ids['garbage'][0]},Q3"]
    (root / "Q3" / f"{ids['garbage'][0]}.mp3").write_bytes(b"ID3\x03\x00 not audio at all" * 10)
    encode_audio(root / "Q2" / "MT9000000003.mp3", synth_song(-0.5, 0.5, seed=99, sr=SR, seconds=2.0), SR)  # no row
    (root / ANNOTATIONS).write_text("Song,Quadrant\n" + "\n".join(rows) + "\n")
    header = '"Song","Artist","Title","Quadrant","PQuad","MoodsTotal","Moods","MoodsFoundStr","MoodsStr","MoodsStrSplit","Genres","GenresStr","Sample","SampleURL"'
    (root / METADATA).write_bytes(("\n".join([header, *meta]) + "\n").encode("latin-1"))
    return ids


def make_pmemo_samples(root: Path, seconds: float = 4.0) -> dict[str, tuple[float, float]]:
    """PMEmo's sample layout (``<id>.mp3`` + ``<id>.json`` + ``index.json``); returns static V-A (0..1) by id."""
    root.mkdir(parents=True, exist_ok=True)
    va = {"11": (0.85, 0.8), "12": (0.2, 0.8), "13": (0.25, 0.2), "14": (0.75, 0.3)}
    for sid, (v, a) in va.items():
        encode_audio(root / f"{sid}.mp3", synth_song(2 * v - 1, 2 * a - 1, seed=int(sid), sr=SR, seconds=seconds), SR)
        (root / f"{sid}.json").write_text(
            json.dumps({"id": int(sid), "title": f"Song {sid}", "artist": "X", "valence_mean": v, "arousal_mean": a})
        )
    (root / "index.json").write_text(json.dumps([{"id": int(s), "v": v, "a": a} for s, (v, a) in va.items()]))
    return va
