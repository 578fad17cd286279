"""Drawing primitives for the synthetic world: a cartoon face whose expression encodes V-A, and a
scene context (background colour, clutter) that can be made to correlate with the labels.

All V-A arguments here are on the shared [-1, 1] reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SKIN_TONES = np.array(
    [  # BGR
        [180, 200, 235],
        [160, 185, 225],
        [130, 165, 210],
        [110, 145, 195],
        [90, 125, 175],
    ],
    dtype=np.float64,
)


@dataclass
class FaceStyle:
    """Appearance that does not carry emotion (identity)."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    aspect: float  # face width / height

    @staticmethod
    def random(rng: np.random.Generator) -> FaceStyle:
        skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] + rng.normal(0, 6, 3)
        hair = rng.uniform(10, 90, 3)
        return FaceStyle(
            tuple(int(c) for c in np.clip(skin, 0, 255)),
            tuple(int(c) for c in hair),
            float(rng.uniform(0.72, 0.82)),
        )


def draw_face(
    img: np.ndarray,
    cx: float,
    cy: float,
    height: float,
    valence: float,
    arousal: float,
    style: FaceStyle,
    angle_deg: float = 0.0,
) -> tuple[int, int, int, int]:
    """Draw a face in place and return its box ``(x, y, w, h)``.

    Expression code: the mouth curves up (smile) for positive valence and down for negative;
    brows slant inward-down for negative valence. Arousal opens the eyes, raises the brows and
    opens the mouth.
    """
    h = float(height)
    w = h * style.aspect
    a01 = (float(arousal) + 1) / 2  # 0..1
    v = float(valence)
    # Work on a square patch so the whole face can be rotated together.
    size = int(h * 1.5) + 4
    patch = np.zeros((size, size, 3), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    c = size / 2

    def P(x: float, y: float) -> tuple[int, int]:  # noqa: N802
        return round(c + x * h), round(c + y * h)

    # hair, head
    cv2.ellipse(patch, P(0, -0.06), (int(w * 0.56), int(h * 0.56)), 0, 180, 360, style.hair, -1, cv2.LINE_AA)
    cv2.ellipse(mask, P(0, -0.06), (int(w * 0.56), int(h * 0.56)), 0, 180, 360, 255, -1)
    cv2.ellipse(patch, P(0, 0), (int(w / 2), int(h / 2)), 0, 0, 360, style.skin, -1, cv2.LINE_AA)
    cv2.ellipse(mask, P(0, 0), (int(w / 2), int(h / 2)), 0, 0, 360, 255, -1)

    dark = (25, 25, 30)
    # eyes: dark ellipses whose height follows arousal
    eye_w = 0.085 * h
    eye_h = (0.025 + 0.06 * a01) * h
    for sx in (-1, 1):
        cv2.ellipse(
            patch, P(sx * 0.17, -0.08), (int(eye_w), max(1, int(eye_h))), 0, 0, 360, dark, -1, cv2.LINE_AA
        )
    # brows: height above the eye follows arousal, inner-end tilt follows valence
    brow_y = -0.08 - (0.09 + 0.09 * a01)
    tilt = -0.06 * v  # negative valence: inner ends go down (frown)
    thick = max(2, int(0.035 * h))
    for sx in (-1, 1):
        outer = P(sx * 0.27, brow_y - 0.02 * v)
        inner = P(sx * 0.07, brow_y + tilt)
        cv2.line(patch, outer, inner, dark, thick, cv2.LINE_AA)
    # nose
    cv2.line(
        patch,
        P(0, -0.02),
        P(0.015, 0.1),
        tuple(int(s * 0.8) for s in style.skin),
        max(1, thick // 2),
        cv2.LINE_AA,
    )
    # mouth: a parabola whose curvature follows valence, opened by arousal
    xs = np.linspace(-0.16, 0.16, 25)
    curve = 0.09 * v
    ys = 0.25 + curve * (1 - (xs / 0.16) ** 2)  # image y points down: +curve = smile
    open_amt = 0.012 + 0.09 * a01
    upper = np.stack([xs, ys - open_amt * 0.3 * (1 - (xs / 0.16) ** 2)], 1)
    lower = np.stack([xs, ys + open_amt * (1 - (xs / 0.16) ** 2)], 1)
    poly = np.concatenate([upper, lower[::-1]])
    pts = np.array([P(x, y) for x, y in poly], np.int32)
    cv2.fillPoly(patch, [pts], (40, 30, 120), cv2.LINE_AA)
    cv2.polylines(patch, [pts], True, dark, max(1, thick // 2), cv2.LINE_AA)

    if angle_deg:
        M = cv2.getRotationMatrix2D((c, c), angle_deg, 1.0)
        patch = cv2.warpAffine(patch, M, (size, size), flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(mask, M, (size, size), flags=cv2.INTER_NEAREST)
    # paste with clipping at the image border
    x0, y0 = round(cx - c), round(cy - c)
    H, W = img.shape[:2]
    ix0, iy0, ix1, iy1 = max(0, x0), max(0, y0), min(W, x0 + size), min(H, y0 + size)
    if ix1 > ix0 and iy1 > iy0:
        sub_m = mask[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] > 0
        img[iy0:iy1, ix0:ix1][sub_m] = patch[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0][sub_m]
    return int(cx - w / 2), int(cy - h / 2), int(w), int(h)


def context_palette(valence: float, arousal: float) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom background colours (BGR) for a context mood: warm and bright for positive
    valence, cool and grey for negative; more saturated for high arousal."""
    hue = np.interp(valence, [-1, 1], [110, 15])  # OpenCV hue 0..180: blue -> orange
    sat = np.interp(arousal, [-1, 1], [40, 220])
    val = np.interp(valence, [-1, 1], [90, 235])
    top = np.uint8([[[hue, sat, val]]])
    bot = np.uint8([[[(hue + 12) % 180, sat * 0.8, val * 0.7]]])
    return (
        cv2.cvtColor(top, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64),
        cv2.cvtColor(bot, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64),
    )


def draw_context(
    width: int,
    height: int,
    valence: float,
    arousal: float,
    rng: np.random.Generator,
    layout_seed: int | None = None,
) -> np.ndarray:
    """A background whose colours follow context valence and whose clutter follows context arousal.

    ``layout_seed`` fixes where objects sit (for video frames, so objects do not jump).
    """
    top, bot = context_palette(valence, arousal)
    t = np.linspace(0, 1, height)[:, None, None]
    img = (top * (1 - t) + bot * t) * np.ones((1, width, 1))
    img = img.astype(np.uint8)
    layout = np.random.default_rng(layout_seed) if layout_seed is not None else rng
    n_obj = round(np.interp(arousal, [-1, 1], [1, 14]))
    objs = layout.uniform(0, 1, (14, 6))
    for i in range(n_obj):
        ox, oy, r, kind, hue_j, _ = objs[i]
        centre = (int(ox * width), int(oy * height))
        rad = int((0.03 + 0.08 * r) * min(width, height))
        col = tuple(int(x) for x in np.clip(255 - top * (0.5 + 0.5 * hue_j), 0, 255))
        if kind < 0.5:
            cv2.circle(img, centre, rad, col, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(
                img, (centre[0] - rad, centre[1] - rad // 2), (centre[0] + rad, centre[1] + rad // 2), col, -1
            )
    return img


def add_noise(img: np.ndarray, rng: np.random.Generator, sigma: float = 6.0, gain: float = 1.0) -> np.ndarray:
    """Global lighting gain and Gaussian pixel noise (OpenCV's RNG: ~10x faster than NumPy's here)."""
    cv2.setRNGSeed(int(rng.integers(2**31 - 1)))
    noise = np.empty((img.shape[0], img.size // img.shape[0]), np.int16)  # one channel: randn's scalar sigma
    cv2.randn(noise, 0, float(sigma))  # only fills channel 0 otherwise
    noise = noise.reshape(img.shape)
    out = cv2.convertScaleAbs(img, alpha=float(gain)).astype(np.int16) + noise
    return np.clip(out, 0, 255).astype(np.uint8)
