"""Per-dimension V-A metrics with torchmetrics: MAE, RMSE, Pearson, CCC (+ Spearman at test).

Predictions and targets are on the [-1, 1] reference; MAE/RMSE are reported both there
(``*_ref``) and in FindingEmo units (x3 on both axes).
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.regression import (
    ConcordanceCorrCoef,
    MeanAbsoluteError,
    MeanSquaredError,
    PearsonCorrCoef,
    SpearmanCorrCoef,
)

DIMS = ("valence", "arousal")
FE_UNITS_PER_REF = 3.0  # FindingEmo: valence v/3, arousal (a-3)/3


class VAMetrics(nn.Module):
    """One metric collection per dimension; ``compute()`` returns a flat ``{name: value}`` dict.

    ``sync=False`` when the caller has already gathered every rank's predictions (syncing again would
    count each sample once per rank).
    """

    def __init__(self, spearman: bool = False, sync: bool = True) -> None:
        super().__init__()
        kw = {"sync_on_compute": sync}

        def collection() -> MetricCollection:
            m = {
                "mae_ref": MeanAbsoluteError(**kw),
                "rmse_ref": MeanSquaredError(squared=False, **kw),
                "pearson": PearsonCorrCoef(**kw),
                "ccc": ConcordanceCorrCoef(**kw),
            }
            if spearman:
                m["spearman"] = SpearmanCorrCoef(**kw)
            return MetricCollection(m)

        self.dims = nn.ModuleDict({d: collection() for d in DIMS})

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        for i, d in enumerate(DIMS):
            self.dims[d].update(pred[:, i].float(), target[:, i].float())

    def compute(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for d in DIMS:
            for k, v in self.dims[d].compute().items():
                out[f"{d}_{k}"] = float(v)
            out[f"{d}_mae"] = out[f"{d}_mae_ref"] * FE_UNITS_PER_REF
            out[f"{d}_rmse"] = out[f"{d}_rmse_ref"] * FE_UNITS_PER_REF
        out["ccc_mean"] = (out["valence_ccc"] + out["arousal_ccc"]) / 2
        return out

    def reset(self) -> None:
        for d in DIMS:
            self.dims[d].reset()

    @property
    def count(self) -> int:
        return int(self.dims["valence"]["mae_ref"].total)


def sigma_error_spearman(var: torch.Tensor, pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Spearman of predicted sigma against |error|, per dimension: does uncertainty predict error?"""
    from scipy.stats import spearmanr

    out = {}
    for i, d in enumerate(DIMS):
        sig = var[:, i].clamp_min(0).sqrt().cpu().numpy()
        err = (pred[:, i] - target[:, i]).abs().cpu().numpy()
        out[f"{d}_sigma_err_spearman"] = (
            float(spearmanr(sig, err).statistic) if len(sig) > 2 else float("nan")
        )
    return out
