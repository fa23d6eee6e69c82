"""Sprites and tracks of SynthVAD's agents, and the normal traffic of a scene.

A :class:`Sprite` is a small RGB image with an object mask (and, for smoke and glow, an opacity);
its *anchor* is the pixel that sits on the agent's reference point (a pedestrian's feet, a car's
wheel line centre). A :class:`Track` gives, for every frame of its lifetime, the reference point,
the sprite to draw and whether the object is part of an anomaly at that frame.

Normal activity (:func:`normal_tracks`): pedestrians walk, or stand a while, on sidewalks and grass;
cars drive along their lane at one speed per lane (so they never run into each other).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .scene import GRASS, SIDEWALK, Scene

N_WALK_POSES = 4  # pedestrian sprites 0..3: walking cycle (0 and 2 also used standing)
FIGHT_POSES = (4, 5)  # pedestrian sprites used only by fighting (arms raised)
WALK_SPEED = 0.035  # walking speed in pedestrian heights per frame (1.4 m/s for 1.7 m at 25 fps)
STRIDE = 0.22  # distance (pedestrian heights) between two walking poses


@dataclass(eq=False)
class Sprite:
    rgb: np.ndarray  # (h, w, 3) uint8
    mask: np.ndarray  # (h, w) bool: pixels of the object (the ground-truth mask)
    anchor: tuple[int, int]  # (row, col) inside the sprite that sits on the reference point
    alpha: np.ndarray | None = None  # (h, w) float32 opacity for soft sprites; None = opaque on mask
    bbox: tuple[int, int, int, int] | None = field(init=False)  # (y0, x0, y1, x1) of mask, exclusive

    def __post_init__(self) -> None:
        rows, cols = np.flatnonzero(self.mask.any(1)), np.flatnonzero(self.mask.any(0))
        self.bbox = None if rows.size == 0 else (int(rows[0]), int(cols[0]), int(rows[-1]) + 1,
                                                 int(cols[-1]) + 1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape


class SpriteSequence:
    """Sprites made on demand by ``make(k)`` (fire, explosion: one per frame), cached."""

    def __init__(self, make: Callable[[int], Sprite]):
        self._make, self._cache = make, {}

    def __getitem__(self, k: int) -> Sprite:
        k = int(k)
        if k not in self._cache:
            self._cache[k] = self._make(k)
        return self._cache[k]


@dataclass(eq=False)
class Track:
    """One object over frames ``t0 .. t0 + len(fx) - 1``."""

    kind: str  # pedestrian | car | fire | explosion
    t0: int  # first frame (may be negative: the object existed before the video started)
    fx: np.ndarray  # (n,) float reference point x per frame
    fy: np.ndarray  # (n,) float reference point y per frame
    pose: np.ndarray  # (n,) int index into sprites
    sprites: list[Sprite] | SpriteSequence
    anomalous: np.ndarray | None = None  # (n,) bool, frames where the object is part of the anomaly
    object_id: int = 0  # 0 for normal agents, 1.. for anomaly objects (tracks file ids)
    depth: np.ndarray | None = None  # (n,) float drawing order key; default fy (painter's algorithm)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.fx)
        if self.anomalous is None:
            self.anomalous = np.zeros(n, bool)
        if self.depth is None:
            self.depth = np.asarray(self.fy, np.float64)
        assert len(self.fy) == len(self.pose) == len(self.anomalous) == len(self.depth) == n

    @property
    def t1(self) -> int:
        """One past the last frame."""
        return self.t0 + len(self.fx)

    def covers(self, t: int) -> bool:
        return self.t0 <= t < self.t1

    def placed(self, t: int) -> tuple[Sprite, int, int]:
        """The sprite at frame ``t`` and its top-left corner (row, col) in the frame."""
        k = t - self.t0
        sprite = self.sprites[int(self.pose[k])]
        ay, ax = sprite.anchor
        return sprite, int(round(self.fy[k])) - ay, int(round(self.fx[k])) - ax

    def box(self, t: int, width: int, height: int) -> tuple[int, int, int, int] | None:
        """Tight box ``(x1, y1, x2, y2)`` (x2, y2 exclusive) of the object's mask at frame ``t``,
        clipped to the frame; None when absent or out of view."""
        if not self.covers(t):
            return None
        sprite, y0, x0 = self.placed(t)
        if sprite.bbox is None:
            return None
        by0, bx0, by1, bx1 = sprite.bbox
        x1, y1 = max(0, x0 + bx0), max(0, y0 + by0)
        x2, y2 = min(width, x0 + bx1), min(height, y0 + by1)
        if x2 <= x1 or y2 <= y1:
            return None
        if (x1, y1, x2, y2) == (x0 + bx0, y0 + by0, x0 + bx1, y0 + by1):
            return x1, y1, x2, y2
        # partly out of view: the tight box of the visible part of the mask
        visible = sprite.mask[y1 - y0:y2 - y0, x1 - x0:x2 - x0]
        rows, cols = np.flatnonzero(visible.any(1)), np.flatnonzero(visible.any(0))
        if rows.size == 0:
            return None
        return (x1 + int(cols[0]), y1 + int(rows[0]), x1 + int(cols[-1]) + 1, y1 + int(rows[-1]) + 1)


# ------------------------------------------------------------------------------------------------
# Sprites
# ------------------------------------------------------------------------------------------------

SKIN = [(235, 200, 170), (210, 165, 125), (170, 120, 85), (120, 80, 55), (245, 215, 190)]
HAIR = [(30, 25, 20), (70, 45, 25), (120, 85, 45), (200, 170, 100), (90, 90, 90)]
SHIRTS = [(200, 40, 40), (40, 90, 190), (240, 240, 235), (40, 150, 70), (240, 200, 40),
          (140, 60, 160), (30, 30, 35), (240, 130, 40), (90, 170, 200), (180, 180, 180)]
TROUSERS = [(40, 50, 90), (30, 30, 35), (110, 110, 115), (160, 140, 100), (70, 55, 40)]
CAR_COLORS = {"red": (185, 30, 30), "blue": (35, 70, 160), "white": (230, 230, 228),
              "silver": (165, 168, 172), "black": (28, 28, 32), "yellow": (230, 190, 30),
              "green": (40, 110, 60), "grey": (100, 102, 108)}


def _segment_mask(yy, xx, p, q, radius):
    """Pixels within ``radius`` of the segment p-q (points as (y, x))."""
    py, px = p
    qy, qx = q
    dy, dx = qy - py, qx - px
    L2 = dy * dy + dx * dx
    t = np.clip(((yy - py) * dy + (xx - px) * dx) / L2, 0, 1) if L2 > 0 else 0.0
    return (yy - (py + t * dy)) ** 2 + (xx - (px + t * dx)) ** 2 <= radius ** 2


def pedestrian_colors(rng: np.random.Generator) -> dict:
    """Appearance of one pedestrian (clothes, skin, hair)."""
    return {"skin": SKIN[rng.integers(len(SKIN))], "hair": HAIR[rng.integers(len(HAIR))],
            "shirt": SHIRTS[rng.integers(len(SHIRTS))], "trousers": TROUSERS[rng.integers(len(TROUSERS))]}


def pedestrian_sprites(height: int, colors: dict, facing: int) -> list[Sprite]:
    """Poses 0..3 walking cycle, 4..5 fighting (arms raised forwards); ``facing`` +1 = right.

    Built from a head disc, a torso, arm and leg segments on a canvas ``height`` rows tall; the
    anchor is the centre between the feet."""
    h = max(4, int(height))
    w = max(5, int(round(0.75 * h)) | 1)
    yy, xx = np.mgrid[:h, :w].astype(np.float32) + 0.5
    yy, xx = yy / h, (xx - w / 2) / h  # units of height; x centred
    px = 1.0 / h  # one pixel
    limb = max(0.035, 0.55 * px)
    # (left/right foot x, back/front hand (x, y)) per pose
    legs = [(-0.04, 0.04), (-0.14, 0.13), (-0.03, 0.05), (-0.13, 0.14), (-0.13, 0.12), (-0.1, 0.15)]
    hands = [((-0.06, 0.5), (0.06, 0.5)), ((0.1, 0.48), (-0.12, 0.47)), ((-0.05, 0.5), (0.07, 0.5)),
             ((-0.12, 0.47), (0.1, 0.48)),
             ((0.3, 0.22), (0.14, 0.32)), ((0.16, 0.3), (0.32, 0.18))]
    sprites = []
    for (lf, rf), (hb, hf) in zip(legs, hands):
        head = (yy - 0.1) ** 2 + xx ** 2 <= max(0.095, 1.1 * px) ** 2
        hair = head & ((yy < 0.085) | (xx < -0.05))
        torso = (np.abs(xx) <= max(0.12, 1.0 * px)) & (yy >= 0.19) & (yy <= 0.57)
        shoulder_y = 0.23
        arms = _segment_mask(yy, xx, (shoulder_y, -0.1), (hb[1], hb[0]), limb) | \
            _segment_mask(yy, xx, (shoulder_y, 0.1), (hf[1], hf[0]), limb)
        leg_l = _segment_mask(yy, xx, (0.56, -0.06), (0.97, lf), limb * 1.3)
        leg_r = _segment_mask(yy, xx, (0.56, 0.06), (0.97, rf), limb * 1.3)
        legs_m = leg_l | leg_r
        shoes = legs_m & (yy > 0.92)
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[legs_m] = colors["trousers"]
        rgb[shoes] = (25, 22, 20)
        rgb[torso] = colors["shirt"]
        rgb[arms] = colors["shirt"]
        rgb[arms & (yy > 0.42)] = colors["skin"]  # hands
        rgb[head] = colors["skin"]
        rgb[hair] = colors["hair"]
        mask = head | torso | arms | legs_m
        if facing < 0:
            rgb, mask = rgb[:, ::-1].copy(), mask[:, ::-1].copy()
        sprites.append(Sprite(rgb=rgb, mask=mask, anchor=(h - 1, w // 2)))
    return sprites


def car_sprite(length: int, color: tuple[int, int, int], facing: int) -> Sprite:
    """A car seen from the side: body, cabin with windows, wheels, head and tail lights; the anchor
    is the middle of the wheel line."""
    L = max(8, int(length))
    H = max(4, int(round(0.38 * L)))
    yy, xx = np.mgrid[:H, :L].astype(np.float32) + 0.5
    u, v = xx / L, yy / H  # u: 0 back .. 1 front, v: 0 top .. 1 bottom
    r = 0.1  # rounded body corners
    body = (v >= 0.38) & (v <= 0.86)
    corner = ((u < r) | (u > 1 - r)) & (v < 0.5)
    body &= ~corner | ((np.minimum(u, 1 - u) - r) ** 2 / r ** 2 + ((v - 0.5) / 0.12) ** 2 <= 1)
    t = np.clip(v / 0.42, 0, 1)
    cabin = (v >= 0.02) & (v < 0.42) & (u >= 0.3 - 0.12 * t) & (u <= 0.66 + 0.18 * t)
    window = (v >= 0.1) & (v < 0.38) & (u >= 0.34 - 0.1 * t) & (u <= 0.62 + 0.15 * t) & \
        (np.abs(u - 0.49) > 0.025)
    rw = 0.2 * H
    wheels = np.zeros((H, L), bool)
    hubs = np.zeros((H, L), bool)
    for cu in (0.2, 0.8):
        d2 = (xx - cu * L) ** 2 + (yy - (H - rw)) ** 2
        wheels |= d2 <= rw ** 2
        hubs |= d2 <= (0.45 * rw) ** 2
    rgb = np.zeros((H, L, 3), np.uint8)
    col = np.asarray(color, np.float32)
    rgb[body | cabin] = col
    rgb[(body | cabin) & (v < 0.46) & ~cabin] = np.clip(col * 1.15 + 10, 0, 255)  # lit top edge
    rgb[body & (v > 0.74)] = col * 0.7
    rgb[window] = (150, 180, 200)
    rgb[wheels] = (25, 25, 28)
    rgb[hubs] = (130, 130, 135)
    rgb[body & (u > 0.95) & (v > 0.45) & (v < 0.6)] = (250, 240, 190)  # headlight
    rgb[body & (u < 0.04) & (v > 0.45) & (v < 0.6)] = (200, 20, 20)  # tail light
    mask = body | cabin | wheels
    if facing < 0:
        rgb, mask = rgb[:, ::-1].copy(), mask[:, ::-1].copy()
    return Sprite(rgb=rgb, mask=mask, anchor=(H - 1, L // 2))


def rotate_sprite(sprite: Sprite, degrees: float) -> Sprite:
    """The sprite rotated by ``degrees`` (counter-clockwise on screen) about its mask centre, nearest
    neighbour; the anchor becomes the rotation centre."""
    h, w = sprite.shape
    by0, bx0, by1, bx1 = sprite.bbox
    cy, cx = (by0 + by1) / 2, (bx0 + bx1) / 2
    rad = math.radians(degrees)
    c, s = math.cos(rad), math.sin(rad)
    half = int(math.ceil(math.hypot(h, w) / 2)) + 1
    n = 2 * half + 1
    yy, xx = np.mgrid[:n, :n].astype(np.float32) - half
    # inverse map: output pixel -> source pixel (screen y grows downwards, hence the signs)
    sx = c * xx - s * yy + cx
    sy = s * xx + c * yy + cy
    iy, ix = np.floor(sy).astype(np.int64), np.floor(sx).astype(np.int64)
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    iy, ix = np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)
    mask = inside & sprite.mask[iy, ix]
    rgb = np.where(mask[..., None], sprite.rgb[iy, ix], 0).astype(np.uint8)
    return Sprite(rgb=rgb, mask=mask, anchor=(half, half))


# ------------------------------------------------------------------------------------------------
# Paths
# ------------------------------------------------------------------------------------------------

def walk_poses(distance: np.ndarray, height: int) -> np.ndarray:
    """Walking-cycle pose per frame from the distance walked (pixels): a new pose every
    ``STRIDE`` heights, so faster walkers cycle faster but show the same poses."""
    return (np.floor(distance / (STRIDE * height)).astype(np.int64) % N_WALK_POSES)


def reflect(y: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold a free path back into ``[lo, hi]`` (bouncing off the band edges)."""
    if hi <= lo:
        return np.full_like(y, lo)
    span = hi - lo
    m = np.mod(y - lo, 2 * span)
    return lo + np.where(m > span, 2 * span - m, m)


def feet_range(band, P: int, height: int, need_head: bool = False) -> tuple[float, float]:
    """Rows where a pedestrian's feet may stand inside ``band`` (with the head in the frame when
    ``need_head``)."""
    lo = band.y0 + 0.25 * min(band.height, P)
    hi = band.y1 - 1 - 0.1 * band.height
    if need_head:
        lo = max(lo, 1.08 * P + 1)
    hi = min(hi, height - 1)
    return lo, hi


def pedestrian_path(rng: np.random.Generator, scene: Scene, band, n: int, speed: float,
                    x_start: float, direction: int, y_start: float | None = None,
                    pause: tuple[int, int] | None = None):
    """Feet positions (fx, fy) and distance walked for ``n`` frames of a walk along ``band``:
    straight along sidewalks, at an angle (bouncing off the edges) on grass; ``pause`` =
    (start, duration) in frames makes the pedestrian stand still for a while."""
    lo, hi = feet_range(band, scene.P, scene.height)
    y_start = rng.uniform(lo, hi) if y_start is None else y_start
    angle = rng.uniform(-0.45, 0.45) if band.surface == GRASS else rng.uniform(-0.06, 0.06)
    t = np.arange(n, dtype=np.float64)
    if pause is not None:
        tp, dp = pause
        t = np.minimum(t, tp) + np.maximum(0, t - tp - dp)
    dist = speed * t
    fx = x_start + direction * dist * math.cos(angle)
    fy = reflect(y_start + dist * math.sin(angle), lo, hi)
    return fx, fy, dist


# ------------------------------------------------------------------------------------------------
# Normal traffic
# ------------------------------------------------------------------------------------------------

def make_pedestrian(rng: np.random.Generator, P: int, facing: int) -> tuple[list[Sprite], dict]:
    height = int(round(P * rng.uniform(0.92, 1.08)))
    colors = pedestrian_colors(rng)
    return pedestrian_sprites(height, colors, facing), {"height": height, "colors": colors,
                                                        "facing": facing}


def make_car(rng: np.random.Generator, P: int, facing: int) -> tuple[Sprite, dict]:
    length = int(round(2.2 * P * rng.uniform(0.9, 1.1)))
    name = list(CAR_COLORS)[rng.integers(len(CAR_COLORS))]
    return car_sprite(length, CAR_COLORS[name], facing), {"length": length, "color": name,
                                                          "facing": facing}


def _walkable_band(rng, scene: Scene):
    bands = scene.bands_of(SIDEWALK, GRASS)
    weights = np.array([b.height * (2.0 if b.surface == SIDEWALK else 1.0) for b in bands], float)
    return bands[rng.choice(len(bands), p=weights / weights.sum())]


def traffic_clock(n_frames: int, stop: tuple[int, int] | None, ramp: int = 12,
                  margin: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """The clock the traffic moves by: ``(t, tau)`` on integer frames ``-margin .. n_frames + margin``.
    Without a stop ``tau = t``. A stop ``(a, b)`` halts every lane: speed eases from 1 to 0 over
    ``ramp`` frames from ``a``, stays 0 until ``b``, then eases back to 1 (``tau`` is the integral of
    the speed). Cars of a lane placed by ``tau`` keep their spacing while they brake and wait."""
    t = np.arange(-margin, n_frames + margin + 1, dtype=np.float64)
    if stop is None:
        return t, t.copy()
    a, b = stop

    def ease(x):
        x = np.clip(x, 0.0, 1.0)
        return x * x * (3 - 2 * x)

    speed = np.where(t < b, 1 - ease((t - a) / ramp), ease((t - b) / ramp))
    tau = np.concatenate([[t[0]], t[0] + np.cumsum(0.5 * (speed[1:] + speed[:-1]))])
    return t, tau


def queue_behind(fx: np.ndarray, t0: int, blocked_from: int, stop_x: float, direction: int,
                  brake: float) -> np.ndarray:
    """Positions of a car that must stop with its reference point at ``stop_x`` from frame
    ``blocked_from`` on: before that it drives freely; after, it approaches ``stop_x`` and eases to a
    halt over the last ``brake`` pixels (it never passes ``stop_x``)."""
    out = fx.copy()
    t = t0 + np.arange(len(fx))
    left = direction * (stop_x - fx)  # distance still free ahead of the car
    late = t >= blocked_from
    eased = np.where(left > brake, left, brake * np.exp((left - brake) / max(brake, 1e-6)))
    out[late] = stop_x - direction * eased[late]
    if late.any() and (~late).any():  # no jump at the moment the road gets blocked
        first = int(np.argmax(late))
        out[first:] = np.where(direction * (out[first:] - out[first - 1]) < 0, out[first - 1], out[first:])
    return out


def normal_tracks(rng: np.random.Generator, scene: Scene, n_frames: int, n_agents: int,
                  walk_speed: float, car_until: int | None = None,
                  stop: tuple[int, int] | None = None,
                  blocked: dict[int, tuple[float, float]] | None = None,
                  closed: dict[int, tuple[int, int]] | None = None) -> list[Track]:
    """Normal activity: ``n_agents`` slots, each a succession of agents (60 % pedestrians) that cross
    the view and are replaced after a random gap. ``stop = (a, b)``: the traffic halts from frame
    ``a`` and moves on at ``b`` (a normal event, like a red light out of view; cars in view brake,
    wait and drive on, see :func:`traffic_clock`). A crash blocks lanes from frame ``car_until``:
    ``blocked = {lane index: (x1, x2)}`` (the wreck's extent) makes that lane's cars keep coming and
    queue up behind the wreck, each stopping a gap behind the one before (:func:`queue_behind`);
    the other lanes flow on. ``closed = {lane index: (a, b)}``: no normal car of that lane is in view
    during frames ``a..b`` (a crash car drives there then). Without ``blocked``, cars exist only while
    they can leave the view before ``car_until``."""
    W, P = scene.width, scene.P
    car_until = n_frames if car_until is None else car_until
    clock_t, clock = traffic_clock(n_frames, stop)
    blocked = dict(blocked or {})
    waiting: list[tuple[int, Track, float]] = []  # (lane, track, half length) of cars on the road at the crash

    def tau(frame):  # traffic clock at (integer or fractional) frames
        return np.interp(frame, clock_t, clock)

    def frame_at(value: float) -> float:  # first frame at which the clock reaches value
        i = int(np.searchsorted(clock, value, side="left"))
        if i >= len(clock):
            return float(clock_t[-1] + (value - clock[-1]))
        if i == 0:
            return float(clock_t[0] - (clock[0] - value))
        lo, hi = clock[i - 1], clock[i]
        return float(clock_t[i - 1] + (value - lo) / (hi - lo)) if hi > lo else float(clock_t[i])
    lane_speed = [walk_speed * rng.uniform(4.0, 7.0) for _ in scene.lanes]
    lane_entries: list[list[tuple[float, float]]] = [[] for _ in scene.lanes]  # (entry time, spacing)
    tracks: list[Track] = []
    for _ in range(n_agents):
        t, first = 0, True
        is_ped = rng.random() < 0.6
        while t < n_frames:
            if is_ped:
                band = _walkable_band(rng, scene)
                direction = int(rng.choice((-1, 1)))
                sprites, info = make_pedestrian(rng, P, direction)
                speed = walk_speed * rng.uniform(0.85, 1.15)
                margin = 0.5 * P
                x_start = rng.uniform(0, W) if first else (-margin if direction > 0 else W + margin)
                span = (W + margin - x_start) if direction > 0 else (x_start + margin)
                n_walk = int(math.ceil(span / (speed * 0.89))) + 1  # cos(angle) >= 0.9
                pause = None
                if rng.random() < 0.2:
                    pause = (int(rng.integers(0, max(1, n_walk))), int(rng.integers(20, 80)))
                n = n_walk + (pause[1] if pause else 0)
                fx, fy, dist = pedestrian_path(rng, scene, band, n, speed, x_start, direction,
                                               pause=pause)
                inside = (fx > -margin) & (fx < W + margin)
                n = int(np.flatnonzero(inside)[-1]) + 1 if inside.any() else 1
                tracks.append(Track("pedestrian", t, fx[:n], fy[:n], walk_poses(dist[:n], info["height"]),
                                    sprites, info=info))
            else:
                lane_i = int(rng.integers(len(scene.lanes)))
                lane = scene.lanes[lane_i]
                sprite, info = make_car(rng, P, lane.direction)
                speed = lane_speed[lane_i]
                half = sprite.shape[1] / 2 + 2
                x_entry = -half if lane.direction > 0 else W + half
                span = W + 2 * half
                # entry time on the traffic clock (when the car is at the entry edge); cars of a
                # lane share a speed and the clock, so keeping entries spaced keeps them apart
                if first:
                    t_entry = float(tau(t)) - rng.uniform(0, span) / speed
                else:
                    t_entry = float(tau(t))
                spacing = (2 * half + 0.5 * P) / speed
                for _ in range(50):
                    clash = [(e, s) for e, s in lane_entries[lane_i] if abs(e - t_entry) < max(s, spacing)]
                    if not clash:
                        break
                    t_entry = max(e + max(s, spacing) for e, s in clash) + 1
                t0 = int(math.ceil(max(frame_at(t_entry), t)))
                t_exit = frame_at(t_entry + span / speed)
                n = int(math.ceil(t_exit)) - t0 + 1
                window = (closed or {}).get(lane_i)
                if window is not None and t0 <= window[1] and t_exit >= window[0]:
                    t = window[1] + 1 + int(rng.integers(0, 30))  # the slot waits for the lane to clear
                    continue
                queued = False
                if car_until < n_frames and t_exit > car_until:  # still on the road at the crash
                    if blocked and lane_i not in blocked:
                        pass  # a lane the wreck leaves free: traffic flows on
                    elif lane_i not in blocked or t0 >= n_frames:
                        break  # the road is blocked (or the video over) for this slot's cars
                    else:
                        n, queued = n_frames - t0, True
                if n <= 0 or t0 >= n_frames:
                    break
                lane_entries[lane_i].append((t_entry, spacing))
                fx = x_entry + lane.direction * speed * (tau(np.arange(t0, t0 + n)) - t_entry)
                if queued:
                    waiting.append((lane_i, Track("car", t0, fx, np.full(n, float(lane.y_wheel)),
                                                  np.zeros(n, np.int64), [sprite], info=info), half))
                    # it waits in the queue until the end; the slot sends the next car once this one
                    # has about reached the wreck (traffic keeps coming until the queue is full)
                    t = t0 + int(math.ceil(0.5 * span / speed)) + int(rng.integers(0, 60))
                    first = False
                    continue
                fy = np.full(n, float(lane.y_wheel))
                tracks.append(Track("car", t0, fx, fy, np.zeros(n, np.int64), [sprite], info=info))
            t = tracks[-1].t1
            t += int(rng.integers(0, 60))
            first = False
    return tracks + _queue(waiting, blocked, scene, car_until)


def _queue(waiting: list[tuple[int, "Track", float]], blocked: dict[int, tuple[float, float]],
           scene: Scene, blocked_from: int) -> list[Track]:
    """The cars still on a blocked lane at the crash: those already past the wreck drive on, those
    at it are dropped (they would overlap the crashed cars), the others queue behind it in order of
    arrival (each stops a gap behind the one ahead)."""
    out = []
    gap = 0.4 * scene.P
    for lane_i in sorted({w[0] for w in waiting}):
        d = scene.lanes[lane_i].direction
        x1, x2 = blocked[lane_i]
        edge, far_edge = (x1, x2) if d > 0 else (x2, x1)  # where cars of this lane meet the wreck
        cars = []
        for _, tr, half in (w for w in waiting if w[0] == lane_i):
            k = min(max(blocked_from - tr.t0, 0), len(tr.fx) - 1)
            if tr.t0 <= blocked_from and d * (tr.fx[k] - d * half - far_edge) > 0:
                inside = (tr.fx > -2 * half) & (tr.fx < scene.width + 2 * half)
                n = int(np.flatnonzero(inside)[-1]) + 1
                out.append(Track("car", tr.t0, tr.fx[:n], tr.fy[:n], tr.pose[:n], tr.sprites, info=tr.info))
                continue  # past the wreck: it leaves
            if d * (tr.fx[k] + d * half - edge) > -gap:  # its front is at the wreck already
                continue
            reach = np.flatnonzero(d * (tr.fx + d * half - edge) > -gap)
            arrival = tr.t0 + (int(reach[0]) if reach.size else len(tr.fx))
            cars.append((arrival, tr, half))
        front = edge - d * gap
        for _, tr, half in sorted(cars, key=lambda c: c[0]):
            centre = front - d * half
            tr.fx = queue_behind(tr.fx, tr.t0, blocked_from, centre, d, brake=1.5 * scene.P)
            out.append(tr)
            front = centre - d * (half + gap)
    return out
