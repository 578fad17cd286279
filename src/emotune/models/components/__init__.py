"""Building blocks: backbones, heads, losses, fusion rules, the feature cache."""
