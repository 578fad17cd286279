"""The default fusion (``model.method=context``): inverse-variance weighting in which each path's variance is its own
σ² scaled by what the frame shows of the face (:mod:`emotune.detect.context`) and by how far the paths disagree.

Per dimension, the face path's weight is ``w = u_s / (u_s + u_f)`` with ``log u_s - log u_f = c0 + c1 (log σ_s² -
log σ_f²) + cd D + C · ctx``: with ``c = (0, 1, 0, 0)`` it is plain inverse-variance weighting of the two σ; a face
that fills the frame, is frontal and sharp makes the face's variance small against the scene's, a small face among
many makes it large, and ``D`` (the paths' disagreement against their σ) lets a context that contradicts a clear face
lose its say. Without a face ``w = 0``: the scene alone. Each path's reading is first put on a common scale by a
monotone map of (-1, 1) onto itself, ``tanh(a + b atanh(m))`` (a path whose readings are shrunk towards the mean is
widened), and the fused reading is ``tanh(a' + b' atanh(w m_f' + (1 - w) m_s'))``: a convex combination of two
readings on the plane through another such map (which undoes the compression that averaging causes), so it stays on
the plane by construction.
Its variance is a log-linear model of the mixed path variances, ``D``, the missing face and the context, fitted by
Gaussian likelihood so σ grows with the error.

:func:`fit_context_fusion` fits the weights and the map by maximising the concordance (CCC) with the labels,
averaged over data sets (``domain``), with a ridge pull towards plain inverse-variance weighting; then the variance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from emotune.detect.context import CONTEXT_COLUMNS
from emotune.models.components.fusion import PathEstimates
from emotune.models.components.heads import fit_log_variance

N_CTX = len(CONTEXT_COLUMNS)
GATE_TERMS = ("bias", "log_var_ratio", "disagreement", *CONTEXT_COLUMNS)  # the face weight's logit, per dimension
VAR_TERMS = (
    "bias",
    "log_path_var",
    "disagreement",
    "no_face",
    "dim_disagreement",
    "abs_reading",
    "log_scene_var",
    "log_face_var",
    *CONTEXT_COLUMNS,
)  # the fused log-variance
EDGE = 1 - 1e-4  # readings are kept strictly inside (-1, 1) before atanh (legacy paths may reach the edge)


@dataclass(frozen=True)
class ContextFitSettings:
    """How :func:`fit_context_fusion` fits (``conf/model/fusion.yaml``'s ``context`` node is its one home).

    Args:
        ridge: pull of the weights and the output map towards plain inverse-variance weighting (per coefficient).
        var_ridge: pull of the variance model towards the mixed path variance.
        max_iter: L-BFGS iterations.
    """

    ridge: float
    var_ridge: float
    max_iter: int
    gate_loss: str  # mse | pearson

    @classmethod
    def of(cls, node: Mapping[str, Any]) -> ContextFitSettings:
        """From the config node (its ``conflict_shares``, which the demo fusion chooses among, left aside)."""
        return cls(**{k: v for k, v in node.items() if k != "conflict_shares"})


def _atanh(m: torch.Tensor) -> torch.Tensor:
    return torch.atanh(m.clamp(-EDGE, EDGE))


class ContextFusion(nn.Module):
    """Both paths + what the frame shows -> fused V-A, its variance and the face's weight (all ``(B, 2)``)."""

    ctx_mean: torch.Tensor  # buffers (registered in __init__)
    ctx_scale: torch.Tensor
    gate: torch.Tensor
    path_map: torch.Tensor
    out_map: torch.Tensor
    var_coef: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("ctx_mean", torch.zeros(N_CTX))  # context standardisation, fitted on faces in view
        self.register_buffer("ctx_scale", torch.ones(N_CTX))
        self.register_buffer("gate", self.initial_gate())  # (2, len(GATE_TERMS))
        self.register_buffer("path_map", torch.zeros(2, 2, 2))  # ([scene, face], dim, [a, log b]): each path's scale
        self.register_buffer("out_map", torch.zeros(2, 2))  # (dim, [a, log b])
        self.register_buffer("var_coef", self.initial_var())  # (2, len(VAR_TERMS))

    @staticmethod
    def initial_gate() -> torch.Tensor:
        """Plain inverse-variance weighting of the two paths' σ."""
        g = torch.zeros(2, len(GATE_TERMS))
        g[:, 1] = 1.0
        return g

    @staticmethod
    def initial_var() -> torch.Tensor:
        """The fused variance = the weighted paths' variance."""
        v = torch.zeros(2, len(VAR_TERMS))
        v[:, 1] = 1.0
        return v

    # ------------------------------------------------------------------ the model
    def _terms(self, e: PathEstimates) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised context ``(B, K)`` (zeros without a face) and the disagreement ``D`` ``(B,)``."""
        hf = e.has_face[:, None]
        ctx = torch.where(hf, (e.frame_context() - self.ctx_mean) / self.ctx_scale, torch.zeros(()))
        z2 = ((e.scene_mean - e.face_mean) ** 2 / (e.scene_var + e.face_var).clamp_min(1e-6)).mean(-1)
        return ctx, torch.where(e.has_face, torch.log1p(z2), torch.zeros_like(z2))

    def weight_logit(self, e: PathEstimates, gate: torch.Tensor | None = None) -> torch.Tensor:
        """``log u_s - log u_f`` per dimension ``(B, 2)`` (the face's weight is its sigmoid where a face is found)."""
        g = self.gate if gate is None else gate
        ctx, d = self._terms(e)
        ratio = e.scene_var.clamp_min(1e-6).log() - e.face_var.clamp_min(1e-6).log()
        terms = torch.cat([torch.ones_like(ratio[..., None]), ratio[..., None], d[:, None, None].expand(-1, 2, 1),
                           ctx[:, None, :].expand(-1, 2, -1)], -1)  # fmt: skip
        return (terms * g).sum(-1)

    def face_weight(self, e: PathEstimates, gate: torch.Tensor | None = None) -> torch.Tensor:
        """The face path's weight per dimension ``(B, 2)``; 0 where no face was found."""
        w = torch.sigmoid(self.weight_logit(e, gate))
        return torch.where(e.has_face[:, None], w, torch.zeros_like(w))

    def fused_mean(
        self, e: PathEstimates, gate: torch.Tensor | None = None, out_map: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The fused reading ``(B, 2)`` (inside (-1, 1)) and the face's weight."""
        om, pm = self.out_map if out_map is None else out_map, self.path_map
        w = self.face_weight(e, gate)
        scene, face = (torch.tanh(pm[i, :, 0] + pm[i, :, 1].exp() * _atanh(m)) for i, m in
                       enumerate((e.scene_mean, e.face_mean)))  # fmt: skip
        mixed = w * face + (1 - w) * scene
        return torch.tanh(om[:, 0] + om[:, 1].exp() * _atanh(mixed)), w

    def _var_features(self, e: PathEstimates, w: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """``(B, 2, len(VAR_TERMS))``: the variance model's inputs (``mean``: the fused reading)."""
        ctx, d = self._terms(e)
        log_var = w * e.face_var.clamp_min(1e-8).log() + (1 - w) * e.scene_var.clamp_min(1e-8).log()
        no_face = (~e.has_face).float()[:, None].expand_as(log_var)
        z2 = (e.scene_mean - e.face_mean) ** 2 / (e.scene_var + e.face_var).clamp_min(1e-6)
        dim_d = torch.where(e.has_face[:, None], torch.log1p(z2), torch.zeros_like(z2))
        log_vs = e.scene_var.clamp_min(1e-8).log()
        log_vf = torch.where(e.has_face[:, None], e.face_var.clamp_min(1e-8).log(), torch.zeros_like(log_vs))
        return torch.cat([torch.ones_like(log_var)[..., None], log_var[..., None], d[:, None, None].expand(-1, 2, 1),
                          no_face[..., None], dim_d[..., None], mean.abs()[..., None], log_vs[..., None],
                          log_vf[..., None], ctx[:, None, :].expand(-1, 2, -1)], -1)  # fmt: skip

    def forward(self, e: PathEstimates) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fused mean, its variance and the face's weight, each ``(B, 2)``."""
        mean, w = self.fused_mean(e)
        var = (self._var_features(e, w, mean) * self.var_coef).sum(-1).clamp(-12, 6).exp()
        return mean, var, w


def concordance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Lin's concordance correlation per column of ``(N, 2)`` predictions and labels."""
    mx, my = x.mean(0), y.mean(0)
    cov = ((x - mx) * (y - my)).mean(0)
    return 2 * cov / (x.var(0, unbiased=False) + y.var(0, unbiased=False) + (mx - my) ** 2 + 1e-8)


def correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson's correlation per column of ``(N, 2)`` predictions and labels."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    return (xc * yc).mean(0) / (xc.pow(2).mean(0).sqrt() * yc.pow(2).mean(0).sqrt() + 1e-8)


def domain_weights(domain: torch.Tensor, share: dict[int, float] | None = None) -> torch.Tensor:
    """Row weights ``(N,)`` giving each data set (``domain`` id) the same total say, or ``share[id]`` of it."""
    ids = domain.unique().tolist()
    share = share or {int(i): 1.0 / len(ids) for i in ids}
    w = torch.zeros(len(domain))
    for i in ids:
        rows = domain == i
        w[rows] = share.get(int(i), 0.0) / rows.sum()
    return w / w.sum()


@torch.enable_grad()
def fit_context_fusion(
    fusion: ContextFusion,
    e: PathEstimates,
    y: torch.Tensor,
    domain: torch.Tensor,
    settings: ContextFitSettings,
    share: dict[int, float] | None = None,
    homes: tuple[list[int], list[int]] | None = None,
) -> None:
    """Fit ``fusion`` in place on labelled rows ``e``/``y`` (``(N, 2)`` on the reference scale).

    ``domain`` ``(N,)`` names each row's data set, and each set gets its ``share`` of the say (equal by default), so a
    small set of photographs counts as much as a large set of faces. ``homes`` names the sets where the scene and the
    face path are meant to be read (their labels measure what that path sees: the scene on rated photographs, the face
    on labelled expressions; ``None``: every set for both). In turn:

    1. each path's map, by ``1 - CCC`` on its home sets: its readings on the scale of the labels it should match;
    2. the weights, by ``1 - Pearson`` of the weighted reading per dimension, averaged over the sets (blind to scale:
       mixing in an uninformative path only shrinks a reading towards the mean, which a squared error would reward);
    3. the output map, by ``1 - CCC`` averaged over the sets (the scale that averaging two readings loses);
    4. the variance, by Gaussian likelihood on the home sets' rows (σ is for real inputs, not the constructed ones).

    The context standardisation comes from the rows with a face.
    """
    hf = e.has_face
    if hf.sum() >= 2:
        ctx = e.frame_context()[hf]
        fusion.ctx_mean.copy_(ctx.mean(0))
        fusion.ctx_scale.copy_(ctx.std(0).clamp_min(1e-3))
    ids = [int(i) for i in domain.unique().tolist()]
    share = share or {i: 1.0 / len(ids) for i in ids}
    row_w = domain_weights(domain, share)
    scene_home, face_home = homes or (ids, ids)
    for path, (home, reading, rows) in enumerate(
        ((scene_home, e.scene_mean, torch.ones_like(hf)), (face_home, e.face_mean, hf))
    ):
        keep = rows & torch.isin(domain, torch.tensor(home))
        if keep.sum() >= 8:
            fusion.path_map[path] = _fit_map(reading[keep], y[keep], settings)
    gate0 = fusion.initial_gate()
    gate = gate0.clone().requires_grad_(True)

    def gate_loss() -> torch.Tensor:
        mixed, _ = fusion.fused_mean(e, gate, torch.zeros(2, 2))
        if settings.gate_loss == "pearson":
            fit = sum(share[i] * (1 - correlation(mixed[domain == i], y[domain == i])).sum() for i in ids)
        else:
            fit = (row_w[:, None] * (mixed - y) ** 2).sum()
        return fit + settings.ridge * ((gate - gate0) ** 2).sum()

    _lbfgs([gate], settings.max_iter, gate_loss)
    if torch.isfinite(gate).all():
        fusion.gate.copy_(gate.detach())
    out_map = torch.zeros(2, 2, requires_grad=True)

    def ccc_loss() -> torch.Tensor:
        mean, _ = fusion.fused_mean(e, None, out_map)
        fit = sum(share[i] * (1 - concordance(mean[domain == i], y[domain == i])).sum() for i in ids)
        return fit + settings.ridge * (out_map**2).sum()

    _lbfgs([out_map], settings.max_iter, ccc_loss)
    if torch.isfinite(out_map).all():
        fusion.out_map.copy_(out_map.detach())
    real = torch.isin(domain, torch.tensor(sorted(set(scene_home) | set(face_home))))  # not the constructed rows
    fit_fused_variance(fusion, e.rows(real), y[real], settings, row_w[real])


def fit_fused_variance(
    fusion: ContextFusion,
    e: PathEstimates,
    y: torch.Tensor,
    settings: ContextFitSettings,
    weight: torch.Tensor | None = None,
) -> None:
    """The fused variance model (:data:`VAR_TERMS`) by Gaussian likelihood on labelled rows (``weight``: per row)."""
    with torch.no_grad():
        mean, w = fusion.fused_mean(e)
        feats = fusion._var_features(e, w, mean)
    fusion.var_coef.copy_(fit_log_variance(feats, (mean - y) ** 2, settings.var_ridge, weight))


def _fit_map(reading: torch.Tensor, y: torch.Tensor, settings: ContextFitSettings) -> torch.Tensor:
    """``(2, [a, log b])`` of ``tanh(a + b atanh(reading))`` maximising the CCC with ``y`` (ridge towards identity)."""
    m = torch.zeros(2, 2, requires_grad=True)

    def loss() -> torch.Tensor:
        mapped = torch.tanh(m[:, 0] + m[:, 1].exp() * _atanh(reading))
        return (1 - concordance(mapped, y)).sum() + settings.ridge * (m**2).sum()

    _lbfgs([m], settings.max_iter, loss)
    return m.detach() if torch.isfinite(m).all() else torch.zeros(2, 2)


def choose_conflict_share(fits: dict[float, ContextFusion], e: PathEstimates, y: torch.Tensor) -> float:
    """The share of misleading contexts (a key of ``fits``, each fitted with it) whose worse case on held-out rows is
    best: per dimension, on the rows with a face, the fused CCC's margin over the better single path on the rows as
    they are, and over the face path with every scene swapped for another image's; the smallest of the four."""
    hf = e.has_face
    if hf.sum() < 8:
        return min(fits)
    rows, labels = e.rows(hf), y[hf]
    perm = torch.roll(torch.arange(len(labels)), 1)  # each row's scene from another image
    swapped = PathEstimates(rows.scene_mean[perm], rows.scene_var[perm], rows.face_mean, rows.face_var,
                            rows.has_face, rows.context)  # fmt: skip
    face_ccc = concordance(rows.face_mean, labels)
    best_single = torch.maximum(concordance(rows.scene_mean, labels), face_ccc)
    worst = {}
    with torch.no_grad():
        for q, fusion in fits.items():
            plain = concordance(fusion(rows)[0], labels) - best_single
            lying = concordance(fusion(swapped)[0], labels) - face_ccc
            worst[q] = float(torch.minimum(plain, lying).min())
    return max(worst, key=lambda q: worst[q])


def _lbfgs(params: list[torch.Tensor], max_iter: int, loss: Callable[[], torch.Tensor]) -> None:
    """Minimise ``loss`` over ``params`` in place with L-BFGS (strong Wolfe line search)."""
    opt = torch.optim.LBFGS(params, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = loss()
        value.backward()
        return value

    opt.step(closure)
