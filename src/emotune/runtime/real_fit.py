"""Fit the real-input set's learned pieces on real labelled data, cross-fitted: the face head's expression map
(:mod:`emotune.models.components.expression_fit`) and the context fusion
(:mod:`emotune.models.components.context_fusion`).

``python -m emotune.runtime.real_fit data_dir=DIR`` (``make real-heads REAL=DIR``; settings: ``conf/real_heads.yaml``)
perceives every labelled face (as a webcam frame) and the OASIS photographs the scene head never fitted, then:

- splits the rows into ``folds`` by person (faces) or theme (photographs);
- for each fold, fits the map on the other folds' faces, and the fusion on the other folds' rows with face readings
  from maps that never saw those rows either (inner folds): the fold's rows are then scored by pieces fitted without
  them (``make eval-real`` uses exactly these fold pieces for these images);
- fits the committed pieces the same way on all rows.

The fusion's data sets: faces as webcam frames (labels: their expressions' published coordinates), photographs
(their ratings), and faces in a misleading context (a face's frame with another photograph's scene reading).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from emotune.models.components.context_fusion import ContextFitSettings, ContextFusion, fit_context_fusion
from emotune.models.components.expression import ExpressionVAHead
from emotune.models.components.expression_fit import ExpressionFitSettings, fit_expression_map
from emotune.models.components.fusion import PathEstimates
from emotune.models.face_module import FaceLitModule
from emotune.runtime.real_rows import PerceivedRows
from emotune.utils.errors import ConfigError

log = logging.getLogger(__name__)
FACES, PHOTOS_WITH_FACE, PHOTOS, FACES_IN_CONTEXT = 0, 1, 2, 3  # the fusion's data sets (domain ids)
DOMAINS = {FACES: "faces", PHOTOS_WITH_FACE: "photos_with_face", PHOTOS: "photos", FACES_IN_CONTEXT: "faces_in_context"}


@dataclass(frozen=True)
class CrossFitSettings:
    """``conf/real_heads.yaml``'s ``fit`` node."""

    folds: int  # outer folds (every reported row is scored by pieces fitted on the others)
    inner_folds: int  # folds giving the fusion out-of-fold face readings to fit on
    shares: dict[str, float]  # the fusion's data sets' say: faces, photos, faces_in_context
    seed: int


@dataclass
class CrossFit:
    """The fitted pieces: on all rows, per fold, and which fold holds each image (by content)."""

    face: dict[str, torch.Tensor]
    fusion: dict[str, torch.Tensor]
    face_folds: list[dict[str, torch.Tensor]]
    fusion_folds: list[dict[str, torch.Tensor]]
    fold_of: dict[str, int]
    choices: list[dict[str, Any]]


def fold_of_group(groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each row's fold from its group's hash (a person's photographs, a theme's copies stay together)."""
    return np.array([int(hashlib.sha1(f"{seed}:{g}".encode()).hexdigest()[:8], 16) % folds for g in groups])


def head_state(face: FaceLitModule) -> dict[str, torch.Tensor]:
    """The expression map's tensors (what a fit changes)."""
    return {k: v.detach().clone() for k, v in face.state_dict().items() if k.startswith("head.")}


def face_readings(face: FaceLitModule, state: dict[str, torch.Tensor], feats: np.ndarray) -> tuple[np.ndarray, ...]:
    """The face path's mean and variance ``(N, 2)`` from backbone features under the map ``state``."""
    face.load_state_dict(state, strict=False)
    with torch.no_grad():
        m, v = face.predict_features(torch.as_tensor(feats, dtype=torch.float32))
    return m.numpy(), v.numpy()


def fit_map(
    face: FaceLitModule, rows: PerceivedRows, keep: np.ndarray, settings: ExpressionFitSettings
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The expression map fitted on the faces of ``rows[keep]``; its state and the settings it chose."""
    faces = keep & rows.face_found & (rows.column("expression") != "")
    feats = torch.as_tensor(rows.face_features[faces], dtype=torch.float32)
    head = face.head
    if not isinstance(head, ExpressionVAHead):
        raise ConfigError("The real face path needs the expression head (model.head.kind=expression).")
    choice = fit_expression_map(
        head, feats, list(rows.column("expression")[faces]), rows.column("group")[faces], settings
    )
    return head_state(face), choice


def fusion_inputs(
    rows: PerceivedRows, face_mean: np.ndarray, face_var: np.ndarray, rng: np.random.Generator, share: float
) -> tuple[PathEstimates, torch.Tensor, torch.Tensor]:
    """The fusion's fitting rows: every row as it is (faces: domain FACES; photographs: PHOTOS_WITH_FACE where a face
    is found, else PHOTOS, so the few photographs with a face are not drowned by the many without, whose reading the
    weights cannot change) plus face rows whose scene reading is a random photograph's (FACES_IN_CONTEXT, ``share``
    of the face rows' count)."""
    is_face = rows.column("expression") != ""
    hf = rows.face_found
    fm = np.where(hf[:, None], face_mean, 0.0)
    fv = np.where(hf[:, None], face_var, 1.0)
    sm, sv, ctx, y = rows.scene_mean, rows.scene_var, rows.context, rows.label
    domain = np.where(is_face, FACES, np.where(hf, PHOTOS_WITH_FACE, PHOTOS))
    faces, photos = np.flatnonzero(is_face & hf), np.flatnonzero(~is_face)
    n_swap = round(share * len(faces)) if len(photos) and len(faces) else 0
    idx, other = rng.choice(faces, n_swap), rng.choice(photos, n_swap)
    cat = np.concatenate

    def t(a: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype)

    e = PathEstimates(
        t(cat([sm, sm[other]])),
        t(cat([sv, sv[other]])),
        t(cat([fm, fm[idx]])),
        t(cat([fv, fv[idx]])),
        t(cat([hf, hf[idx]]), torch.bool),
        t(cat([ctx, ctx[idx]])),
    )
    return e, t(cat([y, y[idx]])), t(cat([domain, np.full(n_swap, FACES_IN_CONTEXT)]), torch.long)


def fit_fusion(
    face: FaceLitModule,
    rows: PerceivedRows,
    keep: np.ndarray,
    expression: ExpressionFitSettings,
    context: ContextFitSettings,
    settings: CrossFitSettings,
) -> dict[str, torch.Tensor]:
    """The context fusion fitted on ``rows[keep]``, its face readings out of fold (maps fitted on inner folds)."""
    sub = rows.subset(keep)
    inner = fold_of_group(sub.column("group"), settings.inner_folds, settings.seed + 1)
    fm, fv = np.full((len(sub.images), 2), np.nan), np.full((len(sub.images), 2), np.nan)
    for j in range(settings.inner_folds):
        state, _ = fit_map(face, sub, inner != j, expression)
        m, v = face_readings(face, state, sub.face_features[inner == j])
        fm[inner == j], fv[inner == j] = m, v
    rng = np.random.default_rng(settings.seed)
    e, y, domain = fusion_inputs(sub, fm, fv, rng, settings.shares["faces_in_context"])
    present = [int(d) for d in domain.unique()]
    total = sum(settings.shares[DOMAINS[d]] for d in present)
    fusion = ContextFusion()
    homes = ([PHOTOS_WITH_FACE, PHOTOS], [FACES])  # the scene is read on rated photographs, the face on expressions
    fit_context_fusion(fusion, e, y, domain, context, {d: settings.shares[DOMAINS[d]] / total for d in present}, homes)
    return {k: v.clone() for k, v in fusion.state_dict().items()}


def cross_fit(
    face: FaceLitModule,
    rows: PerceivedRows,
    expression: ExpressionFitSettings,
    context: ContextFitSettings,
    settings: CrossFitSettings,
) -> CrossFit:
    """Every fold's pieces (fitted without it) and the pieces fitted on all rows."""
    fold = fold_of_group(rows.column("group"), settings.folds, settings.seed)
    face_folds: list[dict[str, torch.Tensor]] = []
    fusion_folds: list[dict[str, torch.Tensor]] = []
    choices: list[dict[str, Any]] = []
    for k in [*range(settings.folds), None]:
        keep = fold != k if k is not None else np.ones(len(fold), bool)
        log.info("Cross-fitting: %s", f"fold {k + 1}/{settings.folds}" if k is not None else "all rows")
        state, choice = fit_map(face, rows, keep, expression)
        fusion_state = fit_fusion(face, rows, keep, expression, context, settings)
        choices.append({"fold": k, **choice})
        if k is None:
            return CrossFit(
                state, fusion_state, face_folds, fusion_folds, dict(zip(rows.content, map(int, fold))), choices
            )
        face_folds.append(state)
        fusion_folds.append(fusion_state)
    raise AssertionError("unreachable")
