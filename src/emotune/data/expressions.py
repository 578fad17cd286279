"""Published valence-arousal coordinates of facial-expression categories, and the spellings data sets use for them.

Russell & Mehrabian (1977), "Evidence for a three-factor theory of emotions", Journal of Research in Personality
11:273-294: pleasure and arousal scores of emotion terms on -1..1 (the widely reproduced table, e.g. in Gebhard's ALMA
model, 2005): happy (0.81, 0.51), surprised (0.40, 0.67), angry (-0.51, 0.59), afraid/fearful (-0.64, 0.60),
disgusted (-0.60, 0.35), sad (-0.63, -0.27). Neutral is not a term of the table: it sits at the circumplex's centre
(0, 0) by convention. The [-1, 1] scale is the project's reference scale, so no rescaling is needed.
"""

from __future__ import annotations

RUSSELL_MEHRABIAN_1977: dict[str, tuple[float, float]] = {
    "happy": (0.81, 0.51),
    "surprise": (0.40, 0.67),
    "angry": (-0.51, 0.59),
    "fear": (-0.64, 0.60),
    "disgust": (-0.60, 0.35),
    "sad": (-0.63, -0.27),
    "neutral": (0.0, 0.0),
}
COORDINATES: dict[str, dict[str, tuple[float, float]]] = {"russell_mehrabian_1977": RUSSELL_MEHRABIAN_1977}
# Other spellings of the same categories (data sets label them differently); used to look coordinates up.
ALIASES = {
    "anger": "angry",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "fearful": "fear",
    "afraid": "fear",
    "disgusted": "disgust",
    "surprised": "surprise",
}


def canonical_expression(name: str) -> str:
    """A category name in the tables' spelling (``happiness`` -> ``happy``)."""
    key = str(name).strip().lower()
    return ALIASES.get(key, key)
