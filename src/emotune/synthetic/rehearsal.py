"""A folder laid out like a real FindingEmo download, to rehearse the real-data path at full scale.

For each annotation row (all 25,869 paths of findingemo-light's file by default) a small generated image
at its real path (``Run_1``/``Run_2``, spaces in names); a share is missing and a share corrupt, as
partial downloads are, and a share shows a drawn face with the row's expression.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emotune.data.findingemo import read_annotations
from emotune.synthetic.drawing import FaceStyle, add_noise, draw_context, draw_face
from emotune.utils.io import safe_join
from emotune.utils.scales import FINDINGEMO


def write_download(
    root: str | Path,
    rows: pd.DataFrame | None = None,
    missing: float = 0.1,
    corrupt: float = 0.01,
    face_share: float = 0.5,
    size: int = 80,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, int]:
    """Write the images of ``rows`` (default: the packaged annotations) under ``root``; return the counts."""
    rows = read_annotations() if rows is None else rows
    rng = np.random.default_rng(seed)
    root = Path(root)
    counts = {"rows": len(rows), "written": 0, "missing": 0, "corrupt": 0, "faces": 0}
    ref = FINDINGEMO.to_ref(rows[["valence", "arousal"]].to_numpy(float))
    for i, rel in enumerate(tqdm(rows["image_path"], desc="rehearsal download", unit="img", disable=not progress)):
        u = rng.random()
        if u < missing:
            counts["missing"] += 1
            continue
        path = safe_join(root, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        if u < missing + corrupt:
            path.write_bytes(b"\xff\xd8\xff\xe0 partial download")
            counts["corrupt"] += 1
            continue
        v, a = ref[i]
        img = draw_context(size, size, float(np.clip(v + rng.normal(0, 0.4), -1, 1)), float(a), rng)
        if rng.random() < face_share:
            draw_face(img, size / 2, size / 2, size * rng.uniform(0.45, 0.6), v, a, FaceStyle.random(rng))
            counts["faces"] += 1
        cv2.imwrite(str(path), add_noise(img, rng, 3), [cv2.IMWRITE_JPEG_QUALITY, 85])
        counts["written"] += 1
    return counts
