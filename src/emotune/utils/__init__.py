"""Small shared helpers: errors, atomic I/O, metrics, plots, timing, Hydra instantiation."""
