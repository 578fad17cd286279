"""Every figure: the run timeline, training plots, the evaluation figures (matplotlib, Agg)."""
