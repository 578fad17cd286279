"""Drawing primitives for the synthetic world: a person (head and shoulders) whose face expression encodes
V-A, the visible causes of ambiguity (small, blurred, occluded, turned faces), and a scene context that can
be made to carry part of the mood.

All V-A arguments here are on the shared [-1, 1] reference. Faces are shaded, with eye whites, irises,
lips and ears, so that real-face detectors (MTCNN) find the clear ones about as well as a cascade does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

SKIN_TONES = np.array(
    [  # BGR
        [180, 200, 235],
        [160, 185, 225],
        [130, 165, 210],
        [110, 145, 195],
        [90, 125, 175],
        [70, 95, 140],
    ],
    dtype=np.float64,
)


@dataclass
class FaceStyle:
    """Appearance that does not carry emotion (identity)."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    aspect: float  # face width / height

    @staticmethod
    def random(rng: np.random.Generator) -> FaceStyle:
        """A random identity."""
        skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] + rng.normal(0, 6, 3)
        hair = rng.uniform(10, 90, 3)
        shirt = rng.uniform(30, 220, 3)
        return FaceStyle(_color(np.clip(skin, 0, 255)), _color(hair), _color(shirt), float(rng.uniform(0.74, 0.82)))


def _color(values: np.ndarray) -> tuple[int, int, int]:
    """Three channel values as ints."""
    a, b, c = (int(v) for v in values)
    return a, b, c


@dataclass
class FaceLook:
    """What makes a face hard to read (the visible causes of ambiguity); all zero is a clear frontal face.

    Args:
        yaw: head turned sideways, -1..1 (1: profile to the right).
        occlusion: share of the face hidden from the chin up, 0..1 (a hand or a scarf).
        blur: Gaussian blur of the face, in pixels at this face height.
    """

    yaw: float = 0.0
    occlusion: float = 0.0
    blur: float = 0.0


@lru_cache(maxsize=64)
def _shade_gain(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    d2 = ((xx - centre[0]) ** 2 + ((yy - centre[1]) * 0.85) ** 2) / max(radius, 1) ** 2
    return np.repeat(np.clip(1.12 - 0.35 * d2, 0.6, 1.12).astype(np.float32)[..., None], 3, axis=2)


def _shade(patch: np.ndarray, mask: np.ndarray, centre: tuple[int, int], radius: float) -> None:
    """Darken the skin toward its edge (a round, lit face) inside ``mask`` (gain maps cached: video frames repeat)."""
    gain = _shade_gain(patch.shape[:2], centre, round(radius))
    shaded = cv2.multiply(patch, gain, dtype=cv2.CV_8U) if patch.dtype == np.uint8 else patch
    cv2.copyTo(shaded, mask, patch)


def draw_face(
    img: np.ndarray,
    cx: float,
    cy: float,
    height: float,
    valence: float,
    arousal: float,
    style: FaceStyle,
    angle_deg: float = 0.0,
    look: FaceLook | None = None,
    body: bool = True,
) -> tuple[int, int, int, int]:
    """Draw a person's head (and shoulders) in place; return the face box ``(x, y, w, h)``.

    Expression code: the mouth curves up (smile) for positive valence and down for negative; brows slant
    inward-down for negative valence. Arousal opens the eyes, raises the brows and opens the mouth.
    """
    look = look or FaceLook()
    h = float(height)
    yaw = float(np.clip(look.yaw, -1, 1))
    w = h * style.aspect * (1 - 0.25 * abs(yaw))
    a01, v = (float(arousal) + 1) / 2, float(valence)
    size = int(h * 2.2) + 4  # a square patch: the whole head rotates together
    patch: np.ndarray = np.zeros((size, size, 3), np.uint8)
    mask: np.ndarray = np.zeros((size, size), np.uint8)
    c = size / 2
    shift = 0.16 * yaw  # features slide toward the side the head turns to

    def P(x: float, y: float) -> tuple[int, int]:  # noqa: N802
        return round(c + x * h), round(c + y * h)

    def fill_ellipse(
        centre: tuple[int, int], axes: tuple[int, int], color: tuple[int, ...], a0: int = 0, a1: int = 360
    ) -> None:
        cv2.ellipse(patch, centre, axes, 0, a0, a1, color, -1, cv2.LINE_AA)
        cv2.ellipse(mask, centre, axes, 0, a0, a1, 255, -1)

    if body:  # neck and shoulders
        cv2.rectangle(patch, P(-0.13, 0.35), P(0.13, 0.62), tuple(int(s * 0.85) for s in style.skin), -1)
        cv2.rectangle(mask, P(-0.13, 0.35), P(0.13, 0.62), 255, -1)
        fill_ellipse(P(0, 1.0), (int(h * 0.78), int(h * 0.45)), style.shirt, 180, 360)
    for sx in (-1, 1):  # ears (the far one hides as the head turns)
        if sx * yaw > -0.5:
            fill_ellipse(P(sx * (w / h) * 0.5 - shift * 0.3, 0.0), (int(0.07 * h), int(0.13 * h)), style.skin)
    fill_ellipse(P(0, -0.08), (int(w * 0.56), int(h * 0.56)), style.hair, 180, 360)  # hair
    fill_ellipse(P(0, 0), (int(w / 2), int(h / 2)), style.skin)  # face
    face_mask = np.zeros_like(mask)
    cv2.ellipse(face_mask, P(0, 0), (int(w / 2), int(h / 2)), 0, 0, 360, 255, -1)
    _shade(patch, face_mask, P(shift * 0.5, -0.05), w * 0.55)

    dark = (30, 28, 32)
    eye_w, eye_h = 0.085 * h, (0.03 + 0.055 * a01) * h
    for sx in (-1, 1):
        near = 1 - 0.45 * max(0.0, -sx * yaw)  # the eye on the far side looks smaller
        ex = sx * 0.17 * (1 - 0.3 * abs(yaw)) + shift
        centre, axes = P(ex, -0.08), (max(1, int(eye_w * near)), max(1, int(eye_h)))
        cv2.ellipse(patch, centre, axes, 0, 0, 360, (235, 238, 240), -1, cv2.LINE_AA)  # white
        cv2.circle(patch, P(ex + 0.03 * yaw, -0.08), max(1, int(0.04 * h * near)), (60, 70, 90), -1, cv2.LINE_AA)
        cv2.circle(patch, P(ex + 0.03 * yaw, -0.08), max(1, int(0.018 * h)), dark, -1, cv2.LINE_AA)
        cv2.ellipse(patch, centre, axes, 0, 180, 360, dark, max(1, int(0.012 * h)), cv2.LINE_AA)  # upper lid
    brow_y, tilt, thick = -0.08 - (0.09 + 0.09 * a01), -0.06 * v, max(2, int(0.035 * h))
    for sx in (-1, 1):
        k = 1 - 0.3 * abs(yaw)
        outer, inner = P(sx * 0.27 * k + shift, brow_y - 0.02 * v), P(sx * 0.07 * k + shift, brow_y + tilt)
        cv2.line(patch, outer, inner, tuple(int(x * 0.8) for x in style.hair), thick, cv2.LINE_AA)
    nose_dark = tuple(int(s * 0.72) for s in style.skin)
    cv2.line(patch, P(shift * 1.2, -0.04), P(shift * 1.5 + 0.02, 0.1), nose_dark, max(1, thick // 2), cv2.LINE_AA)
    for sx in (-1, 1):
        cv2.circle(patch, P(shift * 1.4 + sx * 0.035, 0.115), max(1, int(0.013 * h)), nose_dark, -1, cv2.LINE_AA)
    # mouth: a parabola whose curvature follows valence, opened by arousal
    half = 0.16 * (1 - 0.3 * abs(yaw))
    xs = np.linspace(-half, half, 25)
    bend = 1 - (xs / half) ** 2
    ys = 0.25 + 0.09 * v * bend  # image y points down: +curve = smile
    open_amt = 0.012 + 0.09 * a01
    poly = np.concatenate(
        [np.stack([xs + shift, ys - open_amt * 0.3 * bend], 1), np.stack([xs + shift, ys + open_amt * bend], 1)[::-1]]
    )
    pts = np.array([P(x, y) for x, y in poly], np.int32)
    cv2.fillPoly(patch, [pts], (60, 40, 110), cv2.LINE_AA)
    cv2.polylines(patch, [pts], True, (70, 60, 150), max(1, thick // 2), cv2.LINE_AA)

    if look.occlusion > 0:  # a hand or scarf over the face, from the chin up
        top = 0.5 - 1.0 * float(np.clip(look.occlusion, 0, 1))
        cover = tuple(int(x) for x in (np.array(style.skin) * 0.9 if look.occlusion < 0.5 else np.array(style.shirt)))
        cv2.ellipse(patch, P(shift, 0.5), (int(w * 0.62), int((0.5 - top) * h)), 0, 180, 360, cover, -1, cv2.LINE_AA)
    if look.blur > 0.3:
        patch = cv2.GaussianBlur(patch, (0, 0), float(look.blur))
        mask = cv2.GaussianBlur(mask, (0, 0), float(look.blur))
    soft = look.blur > 0.3
    if angle_deg:
        M = cv2.getRotationMatrix2D((c, c), angle_deg, 1.0)
        patch = cv2.warpAffine(patch, M, (size, size), flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(mask, M, (size, size), flags=cv2.INTER_LINEAR if soft else cv2.INTER_NEAREST)
    x0, y0 = round(cx - c), round(cy - c)  # paste, clipped at the image border
    H, W = img.shape[:2]
    ix0, iy0, ix1, iy1 = max(0, x0), max(0, y0), min(W, x0 + size), min(H, y0 + size)
    if ix1 > ix0 and iy1 > iy0:
        src = patch[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
        m = mask[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
        region = img[iy0:iy1, ix0:ix1]
        if soft:  # blurred edges blend into the scene
            alpha = m[..., None].astype(np.float32) / 255.0
            region[:] = (alpha * src + (1 - alpha) * region).astype(np.uint8)
        else:
            cv2.copyTo(src, m, region)
    return int(cx - w / 2 + shift * h * 0.3), int(cy - h / 2), int(w), int(h)


def context_palette(valence: float, arousal: float) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom background colours (BGR) for a context mood: warm and bright for positive
    valence, cool and grey for negative; more saturated for high arousal."""
    hue = np.interp(valence, [-1, 1], [110, 15])  # OpenCV hue 0..180: blue -> orange
    sat = np.interp(arousal, [-1, 1], [40, 220])
    val = np.interp(valence, [-1, 1], [90, 235])
    top = np.array([[[hue, sat, val]]]).astype(np.uint8)
    bot = np.array([[[(hue + 12) % 180, sat * 0.8, val * 0.7]]]).astype(np.uint8)
    return (
        cv2.cvtColor(top, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64),
        cv2.cvtColor(bot, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64),
    )


def draw_context(
    width: int, height: int, valence: float, arousal: float, rng: np.random.Generator, layout_seed: int | None = None
) -> np.ndarray:
    """A background whose colours follow context valence and whose clutter follows context arousal.

    ``layout_seed`` fixes where objects sit (for video frames, so objects do not jump).
    """
    top, bot = context_palette(valence, arousal)
    t = np.linspace(0, 1, height)[:, None, None]
    column = (top * (1 - t) + bot * t).astype(np.uint8)  # (H, 1, 3): one column, stretched across
    img = cv2.resize(column, (width, height), interpolation=cv2.INTER_NEAREST)
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
    cv2.randn(noise, 0, float(sigma))  # type: ignore[call-overload]  # scalars work (stubs: arrays); fills channel 0 only
    noise = noise.reshape(img.shape)
    out = cv2.convertScaleAbs(img, alpha=float(gain)).astype(np.int16) + noise
    return np.clip(out, 0, 255).astype(np.uint8)
