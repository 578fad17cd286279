"""Data: FindingEmo and DEAM readers, the datamodules, scales, splits, validation."""
