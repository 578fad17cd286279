"""The V-A regression head, its uncertainty (MC Dropout, heteroscedastic, both) and the β-NLL loss."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn

Uncertainty = Literal["mc_dropout", "heteroscedastic", "both"]
UNCERTAINTIES: tuple[str, ...] = ("mc_dropout", "heteroscedastic", "both")
LOG_VAR_RANGE = (-9.0, 3.0)  # variance on the [-1, 1] reference: from (0.011)^2 to (4.5)^2


class MCDropout(nn.Dropout):
    """``nn.Dropout`` that draws its masks from ``generator`` while one is set (:func:`drawing_from`): MC Dropout
    passes a run can repeat, apart from torch's global random state (which every thread of a server shares). Without
    a generator it is ``nn.Dropout`` (training)."""

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Dropout, with the generator's masks when one is set."""
        if not self.training or self.p == 0 or self.generator is None:
            return super().forward(x)
        keep = 1.0 - self.p
        if keep <= 0:
            return torch.zeros_like(x)
        return x * torch.empty_like(x).bernoulli_(keep, generator=self.generator) / keep


@contextmanager
def drawing_from(head: nn.Module, generator: torch.Generator | None) -> Iterator[None]:
    """Within the block, ``head``'s :class:`MCDropout` layers draw from ``generator`` (``None``: torch's global
    random state, as ``nn.Dropout`` does). The head belongs to one chain, so no other thread sees the setting."""
    layers = [m for m in head.modules() if isinstance(m, MCDropout)]
    for m in layers:
        m.generator = generator
    try:
        yield
    finally:
        for m in layers:
            m.generator = None


class VAHead(nn.Module):
    """Linear (``hidden=None``) or MLP head: features -> (valence, arousal) on [-1, 1], plus a log-variance
    per dimension when ``heteroscedastic``.

    Dropout sits before each linear layer so MC Dropout has something to sample. ``bounded``: the mean is the tanh of
    the last layer's output, so it lies inside (-1, 1) by construction (``False`` only for checkpoints from before).
    """

    def __init__(
        self,
        in_features: int,
        hidden: int | None = None,
        dropout: float = 0.2,
        heteroscedastic: bool = False,
        ambiguity: bool = False,
        bounded: bool = False,
    ) -> None:
        super().__init__()
        self.heteroscedastic, self.has_ambiguity, self.bounded = heteroscedastic, ambiguity, bounded
        out = 2 + 2 * heteroscedastic + ambiguity
        if hidden:
            self.net = nn.Sequential(
                MCDropout(dropout),
                nn.Linear(in_features, hidden),
                nn.GELU(),
                MCDropout(dropout),
                nn.Linear(hidden, out),
            )
        else:
            self.net = nn.Sequential(MCDropout(dropout), nn.Linear(in_features, out))

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``(mean (B, 2), log_var (B, 2) or None, ambiguity logit (B,) or None)``."""
        out = self.net(feats)
        log_var = out[:, 2:4].clamp(*LOG_VAR_RANGE) if self.heteroscedastic else None
        mean = torch.tanh(out[:, :2]) if self.bounded else out[:, :2]
        return mean, log_var, out[:, -1] if self.has_ambiguity else None

    def ambiguity(self, feats: torch.Tensor) -> torch.Tensor:
        """Predicted ambiguity (0..1 for FindingEmo's 0..6 rating), ``(B,)``; a deterministic pass."""
        return ambiguity_pass(self, feats)


def ambiguity_pass(head: nn.Module, feats: torch.Tensor) -> torch.Tensor:
    """A head's predicted ambiguity ``(B,)`` (0..1): the sigmoid of the last output of its ``net`` in eval mode (no
    dropout), zeros when it has no ambiguity output (``has_ambiguity``)."""
    if not head.has_ambiguity:
        return torch.zeros(len(feats), device=feats.device)
    was_training = head.training
    head.eval()
    try:
        return torch.sigmoid(head.get_submodule("net")(feats)[:, -1])
    finally:
        head.train(was_training)


@torch.no_grad()
def predictive(
    head: nn.Module,
    feats: torch.Tensor,
    samples: int,
    uncertainty: Uncertainty,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictive mean and variance ``(B, 2)`` each: one backbone pass, ``samples`` cheap head passes.

    ``head`` is a :class:`VAHead` or anything with its output (``ExpressionVAHead``).
    ``mc_dropout``: the variance of ``samples`` dropout passes (epistemic). ``heteroscedastic``: one
    deterministic pass, the predicted variance (aleatoric). ``both``: dropout passes, epistemic + mean aleatoric.
    ``generator``: where the dropout masks come from (``None``: torch's global random state).
    """
    if uncertainty == "heteroscedastic":
        was_training = head.training
        head.eval()
        try:
            mean, log_var, _ = head(feats)
        finally:
            head.train(was_training)
        return mean, log_var.exp()
    with drawing_from(head, generator):
        means, aleatoric = _mc_passes(head, feats, samples)
    epistemic = means.var(dim=0, unbiased=True) if samples > 1 else torch.zeros_like(means[0])
    var = epistemic if uncertainty == "mc_dropout" or aleatoric is None else epistemic + aleatoric
    return means.mean(dim=0), var


def _mc_passes(head: nn.Module, feats: torch.Tensor, samples: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``samples`` dropout passes in one batch: means ``(T, B, 2)`` and the mean aleatoric variance."""
    was_training = head.training
    head.train()  # dropout on (the head has no batch norm)
    try:
        B = feats.shape[0]
        mean, log_var, _ = head(feats.repeat(samples, 1))
    finally:
        head.train(was_training)
    means = mean.view(samples, B, -1)
    aleatoric = None if log_var is None else log_var.exp().view(samples, B, -1).mean(dim=0)
    return means, aleatoric


def beta_nll(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    """β-NLL (Seitzer et al., ICLR 2022): the Gaussian NLL weighted by ``stopgrad(var) ** beta``.

    ``beta=0`` is the plain NLL (which lets hard points be ignored); ``beta=1`` gives the mean the MSE gradient.
    """
    var = log_var.exp()
    nll = 0.5 * (log_var + (target - mean) ** 2 / var)
    return (nll * var.detach() ** beta).mean()


@torch.enable_grad()
def fit_log_variance(
    features: torch.Tensor, err2: torch.Tensor, ridge: float = 1e-3, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Coefficients ``(2, K)`` of ``log var = features @ coef`` (per dimension) by Gaussian maximum likelihood.

    Args:
        features: ``(N, 2, K)``; feature 0 is a constant, feature 1 the log of a variance (its coefficient
            starts at 1, the others at 0, and are lightly ridge-penalised).
        err2: ``(N, 2)`` squared errors of the means against the labels.
        ridge: the penalty on the coefficients' distance from their start.
        weight: ``(N,)`` row weights (``None``: equal), e.g. to give each data set the same say.
    """
    k = features.shape[-1]
    init = torch.zeros(2, k)
    init[:, 1] = 1.0
    coef = init.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([coef], max_iter=100, line_search_fn="strong_wolfe")

    def nll() -> torch.Tensor:
        opt.zero_grad()
        log_var = (features * coef).sum(-1).clamp(-12, 6)
        nll_rows = 0.5 * (log_var + err2 / log_var.exp()).mean(-1)
        fit = nll_rows.mean() if weight is None else (nll_rows * weight).sum() / weight.sum()
        loss = fit + ridge * ((coef - init)[:, 1:] ** 2).sum()
        loss.backward()
        return loss

    opt.step(nll)
    return coef.detach() if torch.isfinite(coef).all() else init
