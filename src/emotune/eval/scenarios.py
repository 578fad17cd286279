"""Scripted mood trajectories (FindingEmo units: valence -3..3, arousal 0..6) for ``make eval``.

Each is a keyframe table ``t_s, valence, arousal, face`` that :func:`render_video` turns into a clip
with its ground truth; ``make video TRAJ=...`` renders the same CSVs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from emotune.synthetic.video import VideoSpec

STEP_RAMP_S = 0.2  # a "step" is a 0.2 s ramp


def _steps(
    levels: list[tuple[float, float]],
    hold_s: float,
    faces: list[int] | None = None,
    looks: list[dict[str, float]] | None = None,
) -> pd.DataFrame:
    """Plateaus of ``hold_s`` joined by 0.2 s steps; ``looks`` sets each plateau's face condition
    (``occlusion`` 0..1, ``blur`` px, ``yaw`` -1..1)."""
    rows, t = [], 0.0
    faces = faces or [1] * len(levels)
    looks = looks or [{}] * len(levels)
    for i, ((v, a), f, look) in enumerate(zip(levels, faces, looks)):
        start = t if i == 0 else t + STEP_RAMP_S
        cond = (look.get("occlusion", 0.0), look.get("blur", 0.0), look.get("yaw", 0.0))
        rows += [(start, v, a, f, *cond), (t + hold_s, v, a, f, *cond)]
        t += hold_s
    return pd.DataFrame(rows, columns=["t_s", "valence", "arousal", "face", "occlusion", "blur", "yaw"])


@dataclass
class Scenario:
    """A scripted clip: keyframes, what it tests, how it looks."""

    name: str
    keyframes: pd.DataFrame
    about: str
    spec: VideoSpec = field(default_factory=lambda: VideoSpec(fps=15.0))


def scenarios() -> dict[str, Scenario]:
    """The stabilizer scenarios (steps, drifts, noisy plateaus, stretches without a face) and two guide tests."""
    drift = pd.DataFrame(
        [(0, 2, 3, 1), (50, -1, 5, 1), (100, -2, 1.5, 1), (150, 1.5, 2, 1)],
        columns=["t_s", "valence", "arousal", "face"],
    )
    out = [
        Scenario(
            "steps",
            _steps([(2, 4.5), (-2, 5), (-2, 1.5), (2, 1.5), (0.5, 3.5)], 30.0),
            "five 30 s plateaus joined by 0.2 s steps",
        ),
        Scenario("drift", drift, "slow linear drifts across three quadrants over 150 s"),
        Scenario(
            "noisy",
            _steps([(1.5, 4), (-1.5, 2)], 60.0),
            "two 60 s plateaus under heavy pixel noise, lighting drift and head motion",
            VideoSpec(fps=15.0, noise=14.0, head_motion=2.0, lighting=1.0),
        ),
        Scenario(
            "no_face",
            _steps([(1.5, 4), (1.5, 4), (-2, 5), (-2, 5), (1, 1.5)], 25.0, [1, 0, 1, 0, 1]),
            "25 s segments; the face leaves the frame in the 2nd and 4th",
        ),
        Scenario(
            "hard_face",
            _steps(
                [(1.5, 4), (1.5, 4), (-2, 5), (-2, 5), (-2, 1.5), (-2, 1.5), (1, 2)],
                20.0,
                looks=[{}, {"occlusion": 0.65}, {}, {"blur": 7.0}, {}, {"yaw": 0.9}, {}],
            ),
            "20 s segments; the face is half covered, then blurred, then turned away, between clear stretches",
        ),
    ]
    guide = [
        Scenario("distressed", _steps([(-2.2, 5.2), (-2.0, 5.5)], 60.0), "120 s of high arousal, negative valence"),
        Scenario(
            "low",
            _steps([(-2.0, 1.0), (-2.2, 0.8)], 60.0),
            "120 s of low mood (negative valence, low arousal)",
        ),
        Scenario("distressed_3min", _steps([(-2.25, 5.15)], 180.0), "180 s of steady distress (V-A about -0.75, 0.72)"),
    ]
    return {s.name: s for s in out + guide}
