"""The warnings that say nothing about a run, silenced by name; every other warning is shown (``extras``)."""

from __future__ import annotations

import warnings

# (message regex, category): each is a known, harmless notice of a library this project uses as intended.
KNOWN_NOISE: tuple[tuple[str, type[Warning]], ...] = (
    (r".*does not have many workers.*", UserWarning),  # Lightning: num_workers=0 is the CPU default on purpose
    (r"Found \d+ module\(s\) in eval mode.*", UserWarning),  # Lightning: frozen backbones are kept in eval mode
    (r"Metric `SpearmanCorrcoef` will save all targets.*", UserWarning),  # torchmetrics: small splits, by design
    (r".*isinstance\(treespec, LeafSpec\)` is deprecated.*", Warning),  # Lightning on a newer torch (not ours)
    (r"Experiment logs directory .* exists and is not empty.*", UserWarning),  # CSVLogger on a reused run dir
    (r".*The number of training batches .* is smaller than the logging interval.*", UserWarning),  # tiny data
)


def filter_known_noise() -> None:
    """Silence :data:`KNOWN_NOISE`; leave every other warning visible."""
    for message, category in KNOWN_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)
