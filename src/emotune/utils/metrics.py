"""Per-dimension V-A metrics with torchmetrics: MAE, RMSE, Pearson, CCC (+ Spearman at test).

Predictions and targets are on the [-1, 1] reference; MAE/RMSE are reported both there
(``*_ref``) and in FindingEmo units (x3 on both axes).
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from torch import nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.regression import (
    ConcordanceCorrCoef,
    MeanAbsoluteError,
    MeanSquaredError,
    PearsonCorrCoef,
    SpearmanCorrCoef,
)

from emotune.utils.scales import FINDINGEMO

DIMS = ("valence", "arousal")
FE_UNITS = dict(zip(DIMS, FINDINGEMO.units_per_ref.tolist()))  # MAE/RMSE also in FindingEmo units


class VAMetrics(nn.Module):
    """One metric collection per dimension; ``compute()`` returns a flat ``{name: value}`` dict.

    ``sync=False`` when the caller has already gathered every rank's predictions (syncing again would
    count each sample once per rank).
    """

    def __init__(self, spearman: bool = False, sync: bool = True) -> None:
        super().__init__()
        kw = {"sync_on_compute": sync}

        def collection() -> MetricCollection:
            m: dict[str, Metric | MetricCollection] = {
                "mae_ref": MeanAbsoluteError(**kw),
                "rmse_ref": MeanSquaredError(squared=False, **kw),
                "pearson": PearsonCorrCoef(**kw),
                "ccc": ConcordanceCorrCoef(**kw),
            }
            if spearman:
                m["spearman"] = SpearmanCorrCoef(**kw)
            return MetricCollection(m)

        self.dims = nn.ModuleDict({d: collection() for d in DIMS})

    def _collection(self, dim: str) -> MetricCollection:
        return cast(MetricCollection, self.dims[dim])

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of predictions and targets ``(B, 2)``."""
        for i, d in enumerate(DIMS):
            self._collection(d).update(pred[:, i].float(), target[:, i].float())

    def compute(self) -> dict[str, float]:
        """Flat ``{dim_metric: value}``, with MAE/RMSE also in FindingEmo units and ``ccc_mean``."""
        out: dict[str, float] = {}
        for d in DIMS:
            for k, v in self._collection(d).compute().items():
                out[f"{d}_{k}"] = float(v)
            out[f"{d}_mae"] = out[f"{d}_mae_ref"] * FE_UNITS[d]
            out[f"{d}_rmse"] = out[f"{d}_rmse_ref"] * FE_UNITS[d]
        out["ccc_mean"] = (out["valence_ccc"] + out["arousal_ccc"]) / 2
        return out

    def reset(self) -> None:
        """Clear every metric."""
        for d in DIMS:
            self._collection(d).reset()

    @property
    def count(self) -> int:
        """How many samples were added."""
        return int(cast(MeanAbsoluteError, self._collection("valence")["mae_ref"]).total)


Z90 = 1.6448536269514722  # central 90 % of a Gaussian: mean +- Z90 * sigma


def uncertainty_metrics(var: torch.Tensor, pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Does sigma mean something? Per dimension: Spearman(sigma, |error|), the share of labels inside the
    central 90 % Gaussian interval (``coverage90``), and the mean Gaussian negative log-likelihood (``nll``)."""
    from scipy.stats import spearmanr

    out = {}
    for i, d in enumerate(DIMS):
        v = var[:, i].double().clamp_min(1e-8)
        err = (pred[:, i] - target[:, i]).double()
        sig = v.sqrt()
        rho = (
            spearmanr(sig.numpy(), err.abs().numpy()).statistic
            if len(sig) > 2 and np.ptp(sig.numpy()) > 0
            else float("nan")
        )
        out[f"{d}_sigma_err_spearman"] = float(rho)
        out[f"{d}_coverage90"] = float((err.abs() <= Z90 * sig).double().mean())
        out[f"{d}_nll"] = float((0.5 * (torch.log(2 * torch.pi * v) + err**2 / v)).mean())
    return out
