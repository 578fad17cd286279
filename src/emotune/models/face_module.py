"""Phase 1: the face model (single detected face crop -> V-A)."""

from __future__ import annotations

from emotune.models.va_module import VARegressor


class FaceLitModule(VARegressor):
    """Face path: reads ``batch["face"]`` (crops of the chosen face, with the image's label)."""

    phase = "face"
    input_key = "face"
