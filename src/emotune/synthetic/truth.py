"""A rendered clip's ground truth (``<clip>.va.csv``, FindingEmo units, written by :mod:`emotune.synthetic.video`) at
the times a run analysed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emotune.utils.scales import FINDINGEMO


def truth_at(gt: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    """Ground truth (a ``.va.csv`` in FindingEmo units) at times ``t``, on the reference scale, ``(n, 2)``."""
    fe = np.stack([np.interp(t, gt["t_s"], gt["valence"]), np.interp(t, gt["t_s"], gt["arousal"])], axis=1)
    return FINDINGEMO.to_ref(fe)


def face_at(gt: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    """Whether the script shows a face at ``t`` (nearest earlier ground-truth frame)."""
    idx = np.clip(np.searchsorted(gt["t_s"].to_numpy(), t, side="right") - 1, 0, len(gt) - 1)
    return gt["face"].to_numpy()[idx].astype(bool)
