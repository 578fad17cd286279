"""Evaluation: scripted scenarios, tracking and playlist metrics, the `make eval` report."""
