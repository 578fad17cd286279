"""Audio: decoding and encoding through PyAV (bundled FFmpeg), log-mel features, the soundtrack."""
