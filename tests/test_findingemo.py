"""FindingEmo annotations: real file (packaged), quirks, validation pass, split."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emotune.data.findingemo import EMOTION_TO_PRIMARY, packaged_annotations_path, read_annotations
from emotune.data.splits import annotation_fingerprint, load_or_make_split, make_split
from emotune.data.validation import validate_images
from emotune.utils.errors import DataError
from emotune.utils.io import safe_join

QUIRKY = """index,user,image_path,tags,age,valence,arousal,emotion,dec_factors,ambiguity,datetime
0,u1,/Run_2/Loving toddlers sports/haiti-kids.jpg,"Group,Watermark","Children,Adults",2,4,Joy,"FacialExpression,Context",1,2023-01-01 10:00:00
1,u2,/Run_1/Sad people/a b.jpg,NoPeople,,-3,0,Grief,Context,0,2023-01-01 10:01:00
2,u3,/Run_1/bad.jpg,,,5,2,Joy,,0,2023-01-01 10:02:00
3,u4,/Run_1/bad2.jpg,,,1,7,Rage,,0,2023-01-01 10:03:00
4,u5,/Run_2/Loving toddlers sports/haiti-kids.jpg,,,1,1,Joy,,0,2023-01-01 10:04:00
"""


def test_quirky_file_typed_and_cleaned(tmp_path: Path) -> None:
    p = tmp_path / "a.ann"
    p.write_text(QUIRKY)
    df = read_annotations(p)
    assert len(df) == 2  # two out of range, one duplicate path
    rep = df.attrs["report"]
    assert (rep.out_of_range, rep.duplicates) == (2, 1)
    first = df.iloc[0]
    assert first["image_path"] == "/Run_2/Loving toddlers sports/haiti-kids.jpg"
    assert first["tags"] == ["Group", "Watermark"] and first["dec_factors"] == ["FacialExpression", "Context"]
    assert isinstance(first["valence"], np.integer | int) and first["primary"] == "Joy"
    assert df.iloc[1]["primary"] == "Sadness"
    with pytest.raises(DataError, match="out of range"):
        read_annotations(p, strict=True)


def test_plutchik_has_24_labels_8_primaries() -> None:
    assert len(EMOTION_TO_PRIMARY) == 24 and len(set(EMOTION_TO_PRIMARY.values())) == 8


def test_real_packaged_annotations() -> None:
    try:
        path = packaged_annotations_path()
    except Exception:
        pytest.skip("findingemo-light not installed")
    df = read_annotations(path)
    assert df.attrs["report"].rows_read == 25869
    assert len(df) == 25869, df.attrs["report"]
    assert df["valence"].between(-3, 3).all() and df["arousal"].between(0, 6).all()
    assert df["emotion"].isin(EMOTION_TO_PRIMARY).mean() > 0.99


def test_split_is_stratified_seeded_and_reused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "image_path": [f"/x/{i}.jpg" for i in range(2000)],
            "valence": rng.integers(-3, 4, 2000),
            "arousal": rng.integers(0, 7, 2000),
        }
    )
    s1, s2 = make_split(df, seed=1), make_split(df, seed=1)
    assert (s1 == s2).all() and not (s1 == make_split(df, seed=2)).all()
    for name in ("train", "val", "test"):
        part = df[s1 == name]
        assert part["valence"].nunique() == 7 and part["arousal"].nunique() == 7, name
    f = tmp_path / "splits.csv"
    fp = annotation_fingerprint(df)
    saved = load_or_make_split(df, f, fp, seed=5)
    assert f.is_file() and (load_or_make_split(df, f, fp, seed=99) == saved).all()


def test_a_split_from_another_annotation_set_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = pd.DataFrame(
        {
            "image_path": [f"/x/{i}.jpg" for i in range(300)],
            "valence": rng.integers(-3, 4, 300),
            "arousal": rng.integers(0, 7, 300),
        }
    )
    b = a.copy()
    b["valence"] = -b["valence"]  # the same images, other labels: another annotation set
    f = tmp_path / "splits.csv"
    load_or_make_split(a, f, annotation_fingerprint(a))
    with pytest.raises(DataError, match="another annotation set"):
        load_or_make_split(b, f, annotation_fingerprint(b))
    (tmp_path / "splits.csv.meta.json").unlink()  # an older split without its sidecar: judged by its paths
    c = pd.DataFrame({"image_path": [f"/y/{i}.jpg" for i in range(300)], "valence": 0, "arousal": 3})
    with pytest.raises(DataError, match="another annotation set"):
        load_or_make_split(c, f, annotation_fingerprint(c))


def test_validation_counts_missing_and_unreadable(tmp_path: Path) -> None:
    import cv2

    (tmp_path / "Run_1").mkdir()
    cv2.imwrite(str(tmp_path / "Run_1" / "ok.jpg"), np.zeros((20, 20, 3), np.uint8))
    (tmp_path / "Run_1" / "broken.jpg").write_text("not an image")
    df = pd.DataFrame({"image_path": ["/Run_1/ok.jpg", "/Run_1/broken.jpg", "/Run_1/gone.jpg"]})
    usable, rep = validate_images(df, tmp_path, progress=False)
    assert (rep.usable, rep.missing, rep.unreadable) == (1, 1, 1) and usable["image_path"].tolist() == ["/Run_1/ok.jpg"]


def test_paths_stay_inside_root(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "/Run_1/a b.jpg") == (tmp_path / "Run_1" / "a b.jpg").resolve()
    with pytest.raises(DataError, match="leaves its root"):
        safe_join(tmp_path, "/../../etc/passwd")
