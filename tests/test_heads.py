"""The V-A head (``emotune.models.components.heads``): output shapes, and the predictive variance of each
uncertainty: MC Dropout's spread of dropout passes, the heteroscedastic head's exp(log_var), their sum, none without
dropout; MC Dropout passes drawn from a generator of their own repeat exactly, apart from torch's global random state."""

from __future__ import annotations

import functools

import pytest
import torch

from emotune.models.components.heads import LOG_VAR_RANGE, MCDropout, VAHead, drawing_from, predictive

from .helpers.configs import node

FEATURES = 16


@functools.cache
def head_settings() -> tuple[int | None, float]:
    """``hidden`` and ``dropout`` of the models' head (``conf/model/va_base.yaml``'s ``head``)."""
    head = node("model", "scene")["head"]
    return head["hidden"], float(head["dropout"])


def make_head(dropout: float | None = None, seed: int = 0, **kw: object) -> VAHead:
    hidden, conf_dropout = head_settings()
    torch.manual_seed(seed)
    return VAHead(FEATURES, hidden=hidden, dropout=conf_dropout if dropout is None else dropout, **kw)


@pytest.mark.parametrize("hidden", [None, 8])
@pytest.mark.parametrize("heteroscedastic", [False, True])
@pytest.mark.parametrize("ambiguity", [False, True])
def test_output_shapes(hidden: int | None, heteroscedastic: bool, ambiguity: bool) -> None:
    head = VAHead(FEATURES, hidden=hidden, dropout=0.2, heteroscedastic=heteroscedastic, ambiguity=ambiguity).eval()
    mean, log_var, amb = head(torch.randn(5, FEATURES))
    assert mean.shape == (5, 2)
    assert (log_var is None) != heteroscedastic and (amb is None) != ambiguity
    if heteroscedastic:
        assert log_var.shape == (5, 2)
    if ambiguity:
        assert amb.shape == (5,)
    rating = head.ambiguity(torch.randn(5, FEATURES))
    assert rating.shape == (5,) and ((rating >= 0) & (rating <= 1)).all()
    if not ambiguity:
        assert torch.equal(rating, torch.zeros(5))


def test_log_variance_is_clamped_to_its_range() -> None:
    head = make_head(dropout=0.0, heteroscedastic=True).eval()
    with torch.no_grad():
        head.net[-1].bias[2:4] = torch.tensor([1e3, -1e3])  # an absurd raw log-variance either way
    _, log_var, _ = head(torch.randn(4, FEATURES))
    assert torch.equal(log_var[:, 0], torch.full((4,), LOG_VAR_RANGE[1]))
    assert torch.equal(log_var[:, 1], torch.full((4,), LOG_VAR_RANGE[0]))


def test_mc_dropout_variance_is_the_spread_of_the_dropout_passes() -> None:
    head = make_head(heteroscedastic=False).eval()
    x = torch.randn(6, FEATURES)
    torch.manual_seed(1)
    mean, var = predictive(head, x, 8, "mc_dropout")
    assert mean.shape == var.shape == (6, 2) and (var > 0).all()
    assert not head.training  # the head's mode is put back
    torch.manual_seed(1)  # the same dropout masks, drawn by hand: 8 passes over the batch, in one go
    head.train()
    with torch.no_grad():
        passes = head(x.repeat(8, 1))[0].view(8, 6, 2)
    head.eval()
    torch.testing.assert_close(mean, passes.mean(0))
    torch.testing.assert_close(var, passes.var(0, unbiased=True))


def test_one_mc_pass_has_no_spread() -> None:
    head = make_head(heteroscedastic=False)
    _, var = predictive(head, torch.randn(3, FEATURES), 1, "mc_dropout")
    assert torch.equal(var, torch.zeros(3, 2))


def test_heteroscedastic_variance_is_exp_log_var_of_one_deterministic_pass() -> None:
    head = make_head(heteroscedastic=True).train()  # in training mode: predictive must still switch dropout off
    x = torch.randn(6, FEATURES)
    mean, var = predictive(head, x, 20, "heteroscedastic")
    assert head.training  # the head's mode is put back
    head.eval()
    with torch.no_grad():
        ref_mean, log_var, _ = head(x)
    torch.testing.assert_close(mean, ref_mean)
    torch.testing.assert_close(var, log_var.exp())
    again = predictive(head, x, 3, "heteroscedastic")  # deterministic: no sampling, T does not matter
    assert torch.equal(again[0], mean) and torch.equal(again[1], var)


def test_both_adds_the_mean_aleatoric_variance_to_the_spread() -> None:
    head = make_head(heteroscedastic=True).eval()
    x = torch.randn(6, FEATURES)
    torch.manual_seed(2)
    mean, var = predictive(head, x, 8, "both")
    torch.manual_seed(2)
    head.train()
    with torch.no_grad():
        m, lv, _ = head(x.repeat(8, 1))
    head.eval()
    m, lv = m.view(8, 6, 2), lv.view(8, 6, 2)
    torch.testing.assert_close(mean, m.mean(0))
    torch.testing.assert_close(var, m.var(0, unbiased=True) + lv.exp().mean(0))
    assert (var > lv.exp().mean(0)).all()  # the spread adds to the aleatoric part


@pytest.mark.parametrize("uncertainty", ["mc_dropout", "heteroscedastic", "both"])
def test_without_dropout_every_uncertainty_is_deterministic(uncertainty: str) -> None:
    het = uncertainty != "mc_dropout"
    head = make_head(dropout=0.0, heteroscedastic=het).eval()
    x = torch.randn(5, FEATURES)
    mean, var = predictive(head, x, 10, uncertainty)
    with torch.no_grad():
        ref_mean, log_var, _ = head(x)
    torch.testing.assert_close(mean, ref_mean)
    expected = log_var.exp() if het else torch.zeros(5, 2)  # no dropout: the passes agree, no epistemic part
    torch.testing.assert_close(var, expected, atol=1e-6, rtol=1e-5)
    again = predictive(head, x, 10, uncertainty)
    torch.testing.assert_close(again[0], mean, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(again[1], var, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("uncertainty", ["mc_dropout", "both"])
def test_mc_passes_from_a_generator_repeat_whatever_the_global_random_state(uncertainty: str) -> None:
    head = make_head(heteroscedastic=uncertainty == "both").eval()
    x = torch.randn(6, FEATURES)
    torch.manual_seed(5)
    global_state = torch.get_rng_state()
    first = predictive(head, x, 8, uncertainty, torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), global_state)  # the global stream is not drawn from
    torch.manual_seed(6)  # another global state: the same passes all the same
    again = predictive(head, x, 8, uncertainty, torch.Generator().manual_seed(3))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    other = predictive(head, x, 8, uncertainty, torch.Generator().manual_seed(4))
    assert not torch.equal(first[1], other[1])  # another seed, other masks
    assert all(m.generator is None for m in head.modules() if isinstance(m, MCDropout))  # set only for the call
    assert not head.training


def test_mc_dropout_is_dropout_with_the_generators_masks() -> None:
    layer = MCDropout(0.25).train()
    x = torch.ones(4000)
    with drawing_from(layer, torch.Generator().manual_seed(0)):
        y = layer(x)
        assert layer.generator is not None
    assert layer.generator is None
    kept = y != 0
    assert torch.equal(y[kept], torch.full_like(y[kept], 1 / 0.75))  # survivors scaled by 1 / (1 - p)
    assert abs(kept.float().mean().item() - 0.75) < 0.03
    with drawing_from(layer, torch.Generator().manual_seed(0)):
        assert torch.equal(layer(x), y)
    assert torch.equal(layer.eval()(x), x)  # eval: no dropout, generator or not
    with drawing_from(layer, None):  # no generator: nn.Dropout's own draws from the global state
        torch.manual_seed(1)
        a = layer.train()(x)
    torch.manual_seed(1)
    assert torch.equal(a, torch.nn.Dropout(0.25)(x))


def test_heads_hold_the_same_weights_as_with_nn_dropout() -> None:
    """MCDropout adds no state: a head's state dict is the one a head built with ``nn.Dropout`` had, so checkpoints
    saved before it load as they are."""
    hidden, dropout = head_settings()
    head = make_head(heteroscedastic=True)
    plain = torch.nn.Sequential(
        torch.nn.Dropout(dropout), torch.nn.Linear(FEATURES, hidden), torch.nn.GELU(), torch.nn.Dropout(dropout),
        torch.nn.Linear(hidden, 4),
    ) if hidden else torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(FEATURES, 4))  # fmt: skip
    assert list(head.net.state_dict()) == list(plain.state_dict())
    head.net.load_state_dict(plain.state_dict(), strict=True)
