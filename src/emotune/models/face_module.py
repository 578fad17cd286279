"""Phase 1: the face model (single detected face crop -> V-A)."""

from __future__ import annotations

from typing import Any

from emotune.models.va_module import VARegressor
from emotune.utils.errors import check_range


class FaceLitModule(VARegressor):
    """Face path: reads ``batch["face"]`` (crops of the chosen face, with the image's label).

    Args:
        face_margin: the crop around the detected box, as a fraction of its size on each side. It is part of
            the preprocessing: stored in the checkpoint, used by the datamodule and by ``infer.py``.
        **kwargs: see :class:`VARegressor`.
    """

    phase = "face"
    input_key = "face"
    legacy_hparams = {**VARegressor.legacy_hparams, "face_margin": -0.1}

    def __init__(self, *, face_margin: float, **kwargs: Any) -> None:
        check_range("model.face_margin", face_margin, -0.3, 2.0)
        super().__init__(**kwargs)
        self.hparams["face_margin"] = float(face_margin)

    @property
    def face_margin(self) -> float:
        """The crop margin this model was trained with."""
        return float(self.hparams["face_margin"])

    @property
    def data_configs(self) -> dict[str, dict]:
        """The crop's preprocessing, margin included."""
        return {"face": {**self.data_config, "face_margin": self.face_margin}}
