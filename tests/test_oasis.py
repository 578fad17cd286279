"""OASIS read as published (bare CR line endings, unnamed index column, trailing spaces in Theme), its hash split,
and the data=oasis datamodule."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emotune.data.oasis import read_oasis
from emotune.data.splits import hash_split
from emotune.utils.errors import DataError, MissingResourceError
from tests.helpers.configs import build
from tests.helpers.real_data import REAL_OASIS, needs

HEADER = ",Theme,Category,Source,Valence_mean,Valence_SD,Valence_N,Arousal_mean,Arousal_SD,Arousal_N"


def write_oasis(root: Path, rows: list[tuple[str, str, float, float]], images: bool = True) -> Path:
    """An OASIS-format folder: ``OASIS.csv`` with bare CR line endings, as published, and one JPEG per theme."""
    lines = [HEADER] + [
        f"I{i + 1},{theme},{cat},Pixabay,{v},1.0,100,{a},1.2,101" for i, (theme, cat, v, a) in enumerate(rows)
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "OASIS.csv").write_bytes(("\r".join(lines) + "\r").encode())
    if images:
        (root / "images").mkdir(exist_ok=True)
        rng = np.random.default_rng(0)
        for theme, *_ in rows:
            img = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
            cv2.imwrite(str(root / "images" / f"{theme.strip()}.jpg"), img)
    return root


ROWS = [
    (f"Thing {i}", ("Person", "Object", "Animal", "Scenery")[i % 4], 1 + 6 * i / 39, 7 - 6 * i / 39) for i in range(40)
]


def test_reads_the_published_format(tmp_path: Path) -> None:
    rows = [*ROWS[:3], ("War 2 ", "Scenery", 2.4, 4.6)]  # a trailing space the file name lacks
    df = read_oasis(write_oasis(tmp_path / "o", rows) / "OASIS.csv")
    assert list(df["image_path"]) == ["Thing 0.jpg", "Thing 1.jpg", "Thing 2.jpg", "War 2.jpg"]
    assert df.loc[3, "category"] == "Scenery" and df.loc[3, "valence"] == pytest.approx(2.4)
    assert df["n_raters"].iloc[0] == 100


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(MissingResourceError, match="OASIS ratings not found"):
        read_oasis(tmp_path / "nope" / "OASIS.csv")
    bad = write_oasis(tmp_path / "bad", [("Sky 1", "Scenery", 8.5, 3.0)], images=False)
    with pytest.raises(DataError, match=r"outside OASIS's 1\.\.7 scale, first 'Sky 1'"):
        read_oasis(bad / "OASIS.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="lacks the column"):
        read_oasis(tmp_path / "other.csv")


def test_hash_split_is_stable_under_subsets() -> None:
    keys = [f"photo {i}" for i in range(300)]
    full = dict(zip(keys, hash_split(keys, seed=0)))
    part = dict(zip(keys[::3], hash_split(keys[::3], seed=0)))
    assert all(full[k] == v for k, v in part.items())
    counts = {s: list(full.values()).count(s) for s in ("train", "val", "test")}
    assert 170 < counts["train"] < 250 and counts["val"] > 20 and counts["test"] > 20
    assert list(hash_split(keys, seed=1)) != list(full.values())


def test_datamodule_counts_and_skips_missing_and_unreadable_images(tmp_path: Path) -> None:
    root = write_oasis(tmp_path / "o", ROWS)
    (root / "images" / "Thing 0.jpg").unlink()
    (root / "images" / "Thing 1.jpg").write_bytes(b"not a jpeg")
    dm = build("data", "oasis", root=str(root), cache_dir=str(tmp_path / "cache"))
    dm.configure_inputs({"image": {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}})
    dm.setup()
    assert dm.stats["missing_images"] == 1 and dm.stats["unreadable_images"] == 1
    assert sum(dm.stats["sizes"].values()) == 38
    batch = next(iter(dm.val_dataloader()))
    # 1..7 onto the reference: (x - 4) / 3
    assert batch["va"].min() >= -1 and batch["va"].max() <= 1
    moments = dm.train_label_moments()
    assert moments[0].abs().max() < 0.5
    with pytest.raises(MissingResourceError, match=r"data\.root"):
        build("data", "oasis", root=str(tmp_path / "absent"))._rows()


@needs(REAL_OASIS)
def test_the_real_oasis_copy() -> None:
    df = read_oasis(REAL_OASIS / "OASIS.csv")
    assert len(df) == 450 and set(df["category"]) == {"Person", "Animal", "Object", "Scenery"}
    assert all((REAL_OASIS / "images" / p).is_file() for p in df["image_path"])
    assert df[["valence", "arousal"]].min().min() >= 1 and df[["valence", "arousal"]].max().max() <= 7
