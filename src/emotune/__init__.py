"""emotune: faces in a video to a mood-aware playlist."""
__version__ = "0.1.0"
