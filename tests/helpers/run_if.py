"""``RunIf``: skip a test unless the machine has what it needs (after Lightning's own tests' ``RunIf``).

Use it beside the marker that lets ``make test`` deselect the test::

    @pytest.mark.gpu
    @RunIf(min_cuda_gpus=1)
    def test_on_the_gpu() -> None: ...
"""

from __future__ import annotations

import pytest
import torch


def RunIf(*, min_cuda_gpus: int = 0) -> pytest.MarkDecorator:  # noqa: N802 (a decorator named like Lightning's)
    """A ``skipif`` mark: skip unless at least ``min_cuda_gpus`` CUDA devices are available."""
    reasons = []
    if min_cuda_gpus:
        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if found < min_cuda_gpus:
            reasons.append(f"needs {min_cuda_gpus} CUDA device(s), found {found}")
    return pytest.mark.skipif(bool(reasons), reason="; ".join(reasons) or "runs here")
