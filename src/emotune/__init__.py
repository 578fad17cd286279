"""emotune: faces in a video to a mood-aware playlist."""

from emotune.utils.resolvers import register as _register_resolvers

__version__ = "0.1.0"
_register_resolvers()
