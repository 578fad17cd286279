"""What the entry points run: train, infer, writers, rendering, data and library commands."""
