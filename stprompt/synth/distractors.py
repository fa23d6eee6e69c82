"""Normal things that move: a tree whose crown sways and rustles in gusts of wind.

Real surveillance footage is full of normal motion that is not an agent (trees, flags, water,
screens). Without it, SynthVAD's anomalies were the only local, non-walking motion in a video, and
the global motion magnitude alone found most classes (:mod:`stprompt.synth.audit`). A tree stands on
grass or a sidewalk for the whole video; during one or two gusts (32-160 frames each) its crown
sways and its leaves rustle, with a motion energy of the order of a fire's flicker or a fight's
jitter; between gusts it is still. It is normal: it is never labelled, and the tiny CLIP's captions
call it a tree. Trees appear in normal and anomalous videos alike (``SynthConfig.trees``).
"""

from __future__ import annotations

import math

import numpy as np

from .agents import Sprite, SpriteSequence, Track
from .scene import GRASS, SIDEWALK, Scene, value_noise

LEAF_GREENS = np.array([[46, 96, 40], [58, 110, 44], [38, 84, 52], [70, 118, 50]], np.float32)
TRUNK = np.array([92, 66, 44], np.float32)


def tree_sprite(texture: np.ndarray, outline: np.ndarray, green: np.ndarray, R: float,
                dx: float, dy: float, lean: float) -> Sprite:
    """The tree at one instant: a crown of radius ``R`` whose leaf texture is read at offset
    ``(dy, dx)`` of ``texture`` (rustling) and whose top leans ``lean`` pixels sideways (sway), on a
    trunk. Anchor: the foot of the trunk."""
    r = max(2.0, R)
    trunk_h = int(math.ceil(0.9 * r))
    h, w = int(math.ceil(2.2 * r)) + trunk_h + 4, int(math.ceil(2.4 * r + 2 * abs(lean))) + 4
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    cy, cx = 1.15 * r + 2, w / 2
    # lean grows with height above the crown's base
    shift = lean * np.clip((cy + r - yy) / (2 * r), 0, 1)
    ux, vy = (xx - cx - shift) / r, (yy - cy) / (1.05 * r)
    oh, ow = outline.shape
    o = outline[np.clip((yy * oh / h).astype(int), 0, oh - 1), np.clip((xx * ow / w).astype(int), 0, ow - 1)]
    crown = np.hypot(ux, vy) < 1.0 + 0.18 * o
    th, tw = texture.shape
    ty = np.clip((yy + dy).astype(int) % th, 0, th - 1)
    tx = np.clip((xx - shift + dx).astype(int) % tw, 0, tw - 1)
    leaves = texture[ty, tx]
    rgb = green[None, None, :] * (1.0 + 0.8 * leaves[..., None])
    trunk = (np.abs(xx - cx) <= max(1.0, 0.14 * r)) & (yy > cy) & (yy < cy + r + trunk_h)
    mask = crown | trunk
    rgb = np.where(crown[..., None], rgb, TRUNK[None, None, :])
    return Sprite(rgb=np.clip(rgb, 0, 255).astype(np.uint8), mask=mask,
                  anchor=(int(cy + r + trunk_h) - 1, int(cx)))


def plan_tree(rng: np.random.Generator, scene: Scene, n_frames: int, R: float) -> Track:
    """One tree of crown radius ``R`` for the whole video, with one or two gusts."""
    from .anomalies import _ground_point  # the same placement rule as ground anomalies

    x, y, _ = _ground_point(rng, scene, clearance=3.2 * R, surfaces=(GRASS, SIDEWALK))
    wind = np.zeros(n_frames)
    for _ in range(int(rng.integers(1, 3))):
        length = int(rng.integers(32, 161))
        a = int(rng.integers(0, max(1, n_frames - length // 2)))
        k = np.arange(n_frames)
        ramp = np.clip(np.minimum(k - a, a + length - k) / 8.0, 0, 1)
        wind = np.maximum(wind, ramp)
    strength = rng.uniform(0.6, 1.0)
    phase = np.cumsum(wind * strength * rng.uniform(5.0, 8.0))  # rustling advances with the wind
    lean = wind * strength * 0.35 * R * np.sin(2 * np.pi * np.arange(n_frames) / rng.uniform(10, 20))
    size = int(math.ceil(2.4 * R)) + 64
    texture = value_noise(rng, size, size, max(1.2, 0.15 * R))
    outline = value_noise(rng, 24, 24, 6.0)
    green = LEAF_GREENS[int(rng.integers(len(LEAF_GREENS)))] * rng.uniform(0.85, 1.15)
    seq = SpriteSequence(lambda i: tree_sprite(texture, outline, green, R, phase[i], 0.4 * phase[i],
                                               float(lean[i])))
    still = np.concatenate([[False], (np.diff(phase) == 0) & (np.diff(lean) == 0)])
    pose = np.maximum.accumulate(np.where(still, 0, np.arange(n_frames)))  # calm frames share a sprite
    return Track("tree", 0, np.full(n_frames, x), np.full(n_frames, y), pose, seq,
                 info={"radius": R, "gust_frames": int((wind > 0).sum())})
