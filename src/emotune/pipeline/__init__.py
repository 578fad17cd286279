"""The runtime chain: PERCEIVE (perceive), STABILIZE (stabilizer), MATCH (alignment, stations, matcher, guide)."""
