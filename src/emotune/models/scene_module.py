"""Phase 0: the scene model (whole image -> V-A)."""

from __future__ import annotations

from emotune.models.va_module import VARegressor


class SceneLitModule(VARegressor):
    """Scene path: reads ``batch["image"]``."""

    phase = "scene"
    input_key = "image"
