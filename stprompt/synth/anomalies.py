"""The six SynthVAD anomalies: each a local object (or pair of objects) over a bounded interval.

Each planner returns the anomaly's :class:`~stprompt.synth.agents.Track` objects with their
``anomalous`` flags set on the anomalous frames; the ground truth (boxes, masks, frame labels, tracks)
is read off these flags and the sprites' masks by :mod:`stprompt.synth.render`, so it is exact.

- ``fighting``: two pedestrians walk up to each other, then jitter together with raised arms, then
  part. Anomalous while they fight. With ``knockdown`` (``SynthConfig.fight_knockdown``, the share of
  fights that end so; 0 by default) the last 30-50 % of the fight has one fighter lying on the
  ground beside the other, who goes on with raised arms; he gets up when the fight ends.
- ``fire``: a flickering flame blob on the ground grows, burns, and (if the video lasts) dies out.
- ``explosion``: a fireball expands within a few frames and burns for about a snippet, then turns into
  dark smoke that swells, rises, stays dense and thins out at the end. Anomalous while any of it is
  visible (opacity >= ``SOFT_MASK_ALPHA``).
- ``road_accident``: a car swerves into the oncoming lane and collides head-on with a car there; it
  spins and both stop in that lane; the wreck stays until the end of the video. Traffic goes on: the
  other lane flows as before, and the cars of the blocked lane queue up behind the wreck (so the
  scene does not simply go still after a crash, a cue that is not the crash). Anomalous from the
  swerve on.
- ``running``: a pedestrian walks, then runs at 3-5x walking speed until out of view, using exactly
  the sprites and pose cycle of walking: a still frame shows an ordinary pedestrian (motion-only).
- ``car_on_sidewalk``: a car drives along a sidewalk, either entering the view on it or mounting it
  from the adjacent lane (context anomaly). Anomalous while its wheels are on the sidewalk.

Sizes: object anomalies are drawn at the scene's pedestrian height ``P`` (the camera zoom, drawn the
same way for every video); fire and explosion at a radius ``R`` set by a target area.
:data:`AREA_FACTOR` gives the expected mean box area in units of the size squared.
"""

from __future__ import annotations

import math

import numpy as np

from .agents import (CAR_COLORS, FIGHT_POSES, Sprite, SpriteSequence, Track, car_sprite, feet_range,
                     make_car, pedestrian_colors, pedestrian_sprites, reflect, rotate_sprite,
                     walk_poses)
from .scene import GRASS, ROAD, SIDEWALK, Scene, value_noise

#: Mean box area over anomalous frames / size**2 (size = P or R), measured on generated videos:
#: for agent anomalies the area they take at a zoom P; for fire and explosion only the first guess
#: of the radius (the realised area is corrected in ``render.simulate``).
AREA_FACTOR = {"fighting": 0.88, "running": 0.29, "car_on_sidewalk": 1.47, "road_accident": 7.0,
               "fire": 4.56, "explosion": 5.45}
#: Soft sprites (smoke, flash, the fire's glow) belong to the anomaly's mask, box and frame labels
#: wherever they are at least this opaque: below it a pixel changes by less than
#: :data:`stprompt.synth.audit.VISIBLE` = 8 grey levels against any background it can lie on (the
#: contrast of smoke or glow with a background is at most ~200 levels), so the labels cover
#: everything visible of the anomaly (``tests/test_synth_audit.py`` measures it).
SOFT_MASK_ALPHA = 0.04


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _pick_start(rng, n_frames: int, snippet_len: int, duration: int) -> int:
    """Start frame: after at least one normal snippet; the anomaly may reach the video's end."""
    latest = max(snippet_len, n_frames - duration)
    return int(rng.integers(snippet_len, latest + 1))


def _walk_band(rng, scene: Scene, surfaces=(SIDEWALK, GRASS)):
    """A walkable band where a pedestrian fits with its head in view, and its feet-row range."""
    options = []
    for b in scene.bands_of(*surfaces):
        lo, hi = feet_range(b, scene.P, scene.height, need_head=True)
        if hi >= lo:
            options.append((b, lo, hi))
    if not options:  # a close-up camera: take the lowest band, head may touch the top
        b = max(scene.bands_of(*surfaces), key=lambda b: b.y1)
        hi = feet_range(b, scene.P, scene.height)[1]
        return b, hi, hi
    weights = np.array([hi - lo + 1.0 for _, lo, hi in options])
    return options[rng.choice(len(options), p=weights / weights.sum())]


# ------------------------------------------------------------------------------------------------
# fighting
# ------------------------------------------------------------------------------------------------

def lying_sprite(standing: Sprite, head_left: bool) -> Sprite:
    """A standing pedestrian sprite laid on the ground (rotated by 90°), head to the left or right,
    anchored at the middle of its lowest row (on the ground line, as a standing sprite's feet)."""
    lying = rotate_sprite(standing, 90 if head_left else -90)
    y0, x0, y1, x1 = lying.bbox
    return Sprite(rgb=lying.rgb, mask=lying.mask, anchor=(y1 - 1, (x0 + x1) // 2))


def plan_fighting(rng, scene: Scene, n_frames: int, snippet_len: int, walk_speed: float,
                  size: float, knockdown: float = 0.0) -> list[Track]:
    W, P = scene.width, scene.P
    band, lo, hi = _walk_band(rng, scene)
    fy0 = rng.uniform(lo, hi)
    duration = min(int(rng.integers(48, 201)), n_frames - snippet_len)
    s = _pick_start(rng, n_frames, snippet_len, duration)
    xm = rng.uniform(0.2 * W + 0.4 * P, 0.8 * W - 0.4 * P)
    t = np.arange(n_frames, dtype=np.float64)
    down, loser = 0, 0  # frames the loser lies on the ground at the end of the fight, and his side
    if knockdown > 0 and rng.random() < knockdown:  # no draw at 0: the default world is unchanged
        down = int(round(duration * rng.uniform(0.3, 0.5)))
        loser = -1 if rng.random() < 0.5 else 1
    tracks = []
    for side, oid in ((-1, 1), (1, 2)):  # side -1 comes from the left and faces right
        colors = pedestrian_colors(rng)
        height = int(round(P * rng.uniform(0.95, 1.05)))
        facing_in = -side
        sprites = pedestrian_sprites(height, colors, +1) + pedestrian_sprites(height, colors, -1)
        n_poses = len(sprites) // 2
        speed = walk_speed * rng.uniform(0.9, 1.1)
        off = side * 0.26 * height
        x_meet = xm + off
        fx = np.empty(n_frames)
        fy = np.full(n_frames, fy0 + rng.uniform(-0.03, 0.03) * P)
        ground = float(fy[0])  # this fighter's feet line, before the fight's jitter
        dist = np.empty(n_frames)
        before, during, after = t < s, (t >= s) & (t < s + duration), t >= s + duration
        fx[before] = x_meet + side * speed * (s - t[before])
        dist[before] = speed * t[before]
        # fight: lunges towards the other plus jitter, poses switching every 1-3 frames
        k = t[during] - s
        period = rng.uniform(5, 9)
        lunge = 0.07 * height * np.sin(2 * np.pi * k / period + (0 if side < 0 else np.pi))
        jitter_x = rng.normal(0, 0.045 * height, k.size)
        jitter_y = rng.normal(0, 0.025 * height, k.size)
        fx[during] = x_meet - side * lunge + jitter_x
        fy[during] += jitter_y
        dist[during] = dist[before][-1] if before.any() else 0.0
        # knocked down: the loser lies beside the meeting point, away from the other, until the end
        lying = during & (t >= s + duration - down) if side == loser else np.zeros(n_frames, bool)
        x_down = x_meet + side * 0.45 * height if side == loser else x_meet
        fx[lying] = x_down
        fy[lying] = ground
        # part: walk back where they came from
        ka = t[after] - (s + duration)
        fx[after] = x_down + side * speed * ka
        dist[after] = speed * ka
        pose = walk_poses(dist, height)
        facing = np.where(before | during, facing_in, -facing_in)
        pose_during = np.empty(k.size, np.int64)
        i = 0
        while i < k.size:
            run = int(rng.integers(1, 4))
            pose_during[i:i + run] = rng.choice([*FIGHT_POSES, 1, 3], p=[0.35, 0.35, 0.15, 0.15])
            i += run
        pose[during] = pose_during
        pose = pose + np.where(facing > 0, 0, n_poses)
        if lying.any():
            sprites = sprites + [lying_sprite(sprites[0], head_left=side < 0)]
            pose[lying] = len(sprites) - 1
        anomalous = during.copy()
        # keep only the frames from the moment they come into view
        margin = 0.6 * P
        visible = (fx > -margin) & (fx < W + margin)
        idx = np.flatnonzero(visible)
        a, b = idx[0], idx[-1] + 1
        tracks.append(Track("pedestrian", int(a), fx[a:b], fy[a:b], pose[a:b], sprites,
                            anomalous=anomalous[a:b], object_id=oid,
                            info={"height": height, "colors": colors, "role": "fighter"}))
    return tracks


# ------------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------------

def plan_running(rng, scene: Scene, n_frames: int, snippet_len: int, walk_speed: float,
                 size: float) -> list[Track]:
    W, P = scene.width, scene.P
    band, lo, hi = _walk_band(rng, scene)
    direction = int(rng.choice((-1, 1)))
    height = int(round(P * rng.uniform(0.92, 1.08)))
    colors = pedestrian_colors(rng)
    sprites = pedestrian_sprites(height, colors, direction)
    v_walk = walk_speed * rng.uniform(0.85, 1.15)
    factor = rng.uniform(3.0, 5.0)
    v_run = walk_speed * factor
    angle = rng.uniform(-0.35, 0.35) if band.surface == GRASS else 0.0
    margin = 0.6 * P
    # where the walk turns into a run, from the entry side; below 0 the runner enters running
    x_from_entry = rng.uniform(-0.1, 0.3) * W
    x_switch = x_from_entry if direction > 0 else W - x_from_entry
    run_frames = int(math.ceil((W - x_from_entry + margin) / (v_run * math.cos(angle)))) + 1
    s = _pick_start(rng, n_frames, snippet_len, run_frames)
    t = np.arange(n_frames, dtype=np.float64)
    dist = np.where(t < s, -(s - t) * v_walk, (t - s) * v_run)
    fx = x_switch + direction * dist * math.cos(angle)
    fy = reflect(rng.uniform(lo, hi) + dist * math.sin(angle), lo, hi)
    pose = walk_poses(dist - dist.min(), height)
    visible = (fx > -margin) & (fx < W + margin)
    idx = np.flatnonzero(visible)
    a, b = idx[0], idx[-1] + 1
    anomalous = t >= s
    return [Track("pedestrian", int(a), fx[a:b], fy[a:b], pose[a:b], sprites,
                  anomalous=anomalous[a:b], object_id=1,
                  info={"height": height, "colors": colors, "facing": direction, "role": "runner",
                        "walk_speed": v_walk, "run_speed": v_run, "speed_factor": factor,
                        "run_start": s, "angle": angle})]


# ------------------------------------------------------------------------------------------------
# car on the sidewalk
# ------------------------------------------------------------------------------------------------

def plan_car_on_sidewalk(rng, scene: Scene, n_frames: int, snippet_len: int, walk_speed: float,
                         size: float) -> list[Track]:
    W, P = scene.width, scene.P
    sidewalks = scene.bands_of(SIDEWALK)
    road = scene.road
    band = sidewalks[rng.integers(len(sidewalks))]
    above_road = band.y1 <= road.y0
    sprite_info = make_car(rng, P, +1)[1]
    direction = int(rng.choice((-1, 1)))
    sprite = car_sprite(sprite_info["length"], CAR_COLORS[sprite_info["color"]], direction)
    L, Hc = sprite.shape[1], sprite.shape[0]
    y_side = band.y0 + (0.8 if above_road else 0.55) * band.height
    y_side = max(y_side, min(Hc + 1.0, band.y1 - 1.0))  # keep the roof in view if the band allows
    speed = walk_speed * rng.uniform(2.5, 4.5)
    half = L / 2 + 2
    mount = rng.random() < 0.5
    # the first anomalous frame s is drawn first and the path is laid out around it, so the car
    # is on the sidewalk in view from s on, whatever the video's length
    s = _pick_start(rng, n_frames, snippet_len, 24)
    t = np.arange(n_frames, dtype=np.float64)
    if mount:  # come along the lane next to the sidewalk, then climb onto it
        lane = min(scene.lanes, key=lambda ln: abs(ln.y_wheel - y_side))
        direction = lane.direction
        sprite = car_sprite(sprite_info["length"], CAR_COLORS[sprite_info["color"]], direction)
        x_mount = rng.uniform(0.15, 0.4) * W
        x_mount = x_mount if direction > 0 else W - x_mount
        climb = 1.2 * L

        def path(along):  # along: distance driven past the mounting point
            return x_mount + direction * along, \
                lane.y_wheel + (y_side - lane.y_wheel) * _smoothstep(along / climb)

        grid = np.linspace(0, climb, 200)
        gx, gy = path(grid)
        on = [scene.surface_at(x, y - 1) == SIDEWALK for x, y in zip(gx, gy)]
        d_star = float(grid[int(np.argmax(on))]) if any(on) else climb
        fx, fy = path(d_star + speed * (t - s))
    else:  # enter the view already on the sidewalk
        x_entry = -half if direction > 0 else W + half
        fx = x_entry + direction * (3 + speed * (t - s))
        fy = np.full(n_frames, y_side)
    inside = (fx > -half) & (fx < W + half)
    idx = np.flatnonzero(inside)
    a, b = idx[0], idx[-1] + 1
    on_walk = np.array([scene.surface_at(x, y - 1) == SIDEWALK for x, y in zip(fx, fy)])
    anomalous = on_walk & inside & (t >= s)
    return [Track("car", int(a), fx[a:b], fy[a:b], np.zeros(b - a, np.int64), [sprite],
                  anomalous=anomalous[a:b], object_id=1,
                  info={**sprite_info, "facing": direction, "mount": mount, "speed": speed,
                        "sidewalk_rows": (band.y0, band.y1)})]


# ------------------------------------------------------------------------------------------------
# road accident
# ------------------------------------------------------------------------------------------------

def plan_road_accident(rng, scene: Scene, n_frames: int, snippet_len: int, walk_speed: float,
                       size: float) -> list[Track]:
    W, P = scene.width, scene.P
    upper, lower = sorted(scene.lanes, key=lambda ln: ln.y_wheel)
    aftermath = int(rng.integers(64, 241))
    swerve = int(rng.integers(12, 21))
    s = max(snippet_len, n_frames - aftermath - swerve)
    s = int(rng.integers(snippet_len, s + 1)) if s > snippet_len and rng.random() < 0.3 else s
    t_c = s + swerve
    x_c = rng.uniform(0.35, 0.65) * W
    t = np.arange(n_frames, dtype=np.float64)
    tracks = []
    spin = rng.choice((-1, 1)) * rng.uniform(15, 40)  # small enough for the wreck to stay in its lane
    recoil = rng.uniform(0.1, 0.3) * P
    for oid, lane in ((1, upper), (2, lower)):
        info = make_car(rng, P, lane.direction)[1]
        base = car_sprite(info["length"], CAR_COLORS[info["color"]], lane.direction)
        L, Hc = base.shape[1], base.shape[0]
        speed = walk_speed * rng.uniform(4.5, 6.5)
        d = lane.direction
        # reference point = body centre; fronts meet at x_c at t_c
        cx_c = x_c - d * (L / 2 - 0.04 * L)
        fx = np.where(t < t_c, cx_c - d * speed * (t_c - t), 0.0)
        tau = 3.0
        after = t >= t_c
        fx[after] = cx_c - d * recoil * (1 - np.exp(-(t[after] - t_c) / tau))
        cy_lane = lane.y_wheel - Hc / 2
        if oid == 1:  # the swerving car ends in the other lane: the wreck blocks only that lane
            cy_end = cy_lane + rng.uniform(0.9, 1.0) * (lower.y_wheel - upper.y_wheel)
            frac = _smoothstep((t - s) / swerve)
            fy = cy_lane + (cy_end - cy_lane) * frac
            angle_end = spin
            # nose turns towards the other lane while swerving, then the car spins after impact
            heading = -d * 12 * np.sin(np.pi * np.clip((t - s) / swerve, 0, 1))
        else:
            fy = np.full(n_frames, cy_lane)
            angle_end = rng.uniform(-15, 15)
            heading = np.zeros(n_frames)
        angle = heading + np.where(after, angle_end * (1 - np.exp(-(t - t_c) / 4.0)), 0.0)
        pose = np.round(angle).astype(np.int64)
        cache = {}

        def make(deg, base=base, cache=cache):
            if deg not in cache:
                cache[deg] = rotate_sprite(base, float(deg))
            return cache[deg]

        half = math.hypot(L, Hc) / 2
        inside = (fx > -half) & (fx < W + half)
        idx = np.flatnonzero(inside)
        a, b = idx[0], idx[-1] + 1
        anomalous = t >= s
        depth = np.full(n_frames, float(lane.y_wheel))
        tracks.append(Track("car", int(a), fx[a:b], fy[a:b], pose[a:b], SpriteSequence(make),
                            anomalous=anomalous[a:b], object_id=oid, depth=depth[a:b],
                            info={**info, "facing": d, "speed": speed, "role": "crash",
                                  "collision_frame": t_c, "spin": float(angle_end)}))
    return tracks


# ------------------------------------------------------------------------------------------------
# fire and explosion (procedural sprites)
# ------------------------------------------------------------------------------------------------

FIRE_PALETTE = np.array([[0.0, 150, 25, 5], [0.25, 215, 55, 10], [0.5, 250, 130, 20],
                         [0.75, 255, 210, 60], [1.0, 255, 248, 200]], np.float32)
#: Smoke colour (8-bit grey, plus up to +65 of lumps and shading): dark smoke, as of a blast, that
#: stands out on asphalt, pavement and grass alike (light grey smoke at 95 was a faint smudge on grey roads).
SMOKE_GREY = np.float32(50)
#: The fireball's burning phase, in frames (drawn per video, end exclusive): about one snippet.
FIREBALL_FRAMES = (12, 25)


def _palette(heat: np.ndarray) -> np.ndarray:
    stops = FIRE_PALETTE
    out = np.empty(heat.shape + (3,), np.float32)
    for c in range(3):
        out[..., c] = np.interp(heat, stops[:, 0], stops[:, c + 1])
    return out


def _ground_point(rng, scene: Scene, clearance: float, surfaces=(ROAD, SIDEWALK, GRASS)):
    """A point (x, y) on the ground with ``clearance`` pixels of frame above it when possible."""
    W = scene.width
    bands = scene.bands_of(*surfaces)
    options = [(b, max(b.y0 + 1, clearance), b.y1 - 2) for b in bands]
    options = [(b, lo, hi) for b, lo, hi in options if hi >= lo]
    if not options:
        b = max(bands, key=lambda b: b.y1)
        options = [(b, b.y1 - 2, b.y1 - 2)]
    weights = np.array([hi - lo + 1.0 for _, lo, hi in options])
    b, lo, hi = options[rng.choice(len(options), p=weights / weights.sum())]
    margin = min(0.3 * W, clearance * 0.6)
    return rng.uniform(margin, W - margin), rng.uniform(lo, hi), b


def fire_sprite(seed: int, k: int, radius: float) -> Sprite:
    """Flames of half-width ``radius`` at frame ``k``: a teardrop of heat perturbed by rising value
    noise, coloured dark red -> orange -> yellow -> white; a faint orange glow hugging them (in the
    mask where visible, :data:`SOFT_MASK_ALPHA`). Anchor: centre of the flames' base."""
    rng = np.random.default_rng([seed, k])
    r = max(1.5, radius)
    h, w = int(math.ceil(3.0 * r)) + 4, int(math.ceil(2.8 * r)) + 4
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    base, cx = h - 3, w / 2
    u = (xx + 0.5 - cx) / r
    v = (base - yy - 0.5) / r  # height above the base, in radii
    noise = value_noise(rng, h, w, max(1.5, 0.45 * r))
    width = 1.0 * np.sqrt(np.clip(1 - v / 2.3, 0, 1)) * (1 + 0.25 * np.clip(v, 0, 1))
    heat = 1 - np.abs(u) / np.maximum(width, 1e-3) - 0.1 * np.clip(-v, 0, None) * 8
    heat = heat + 0.35 * noise * np.clip(0.5 + v, 0, 1.5)
    mask = (heat > 0.12) & (v > -0.25)
    heat_c = np.clip(heat * (1.1 - 0.25 * np.clip(v / 2.3, 0, 1)), 0, 1)
    rgb = _palette(heat_c)
    glow = np.clip(0.28 * (1 - np.hypot(u, (v - 0.8) / 1.4) / 1.2), 0, 0.28)
    alpha = np.where(mask, 1.0, glow).astype(np.float32)
    rgb = np.where(mask[..., None], rgb, np.float32((255, 150, 40)))
    mask = alpha >= SOFT_MASK_ALPHA
    return Sprite(rgb=np.clip(rgb, 0, 255).astype(np.uint8), mask=mask, anchor=(base, int(cx)),
                  alpha=alpha)


def plan_fire(rng, scene: Scene, n_frames: int, snippet_len: int, walk_speed: float,
              size: float) -> list[Track]:
    R = float(size)
    x, y, band = _ground_point(rng, scene, clearance=2.4 * R)
    duration = int(rng.integers(80, 321))
    s = _pick_start(rng, n_frames, snippet_len, min(duration, 96))
    seed = int(rng.integers(2**31))
    flicker = rng.uniform(0.85, 1.12, max(n_frames - s, 1))
    k = np.arange(max(n_frames - s, 1), dtype=np.float64)
    grow = 0.35 + 0.65 * _smoothstep(k / (0.3 * duration))
    die = np.where(k > 0.85 * duration, 1 - _smoothstep((k - 0.85 * duration) / (0.15 * duration)), 1.0)
    scale = grow * die * flicker
    alive = (k < duration) & (scale * R >= 1.0)
    n = int(np.flatnonzero(alive)[-1]) + 1 if alive.any() else 1
    radii = R * scale[:n]
    sprites = SpriteSequence(lambda i: fire_sprite(seed, i, radii[i]))
    return [Track("fire", s, np.full(n, x), np.full(n, y), np.arange(n), sprites,
                  anomalous=np.ones(n, bool), object_id=1,
                  info={"radius": R, "duration": duration, "surface": band.name})]


def explosion_sprite(seed: int, k: int, R: float, flash: int, smoke_frames: float) -> Sprite:
    """Frame ``k`` of an explosion of fireball radius ``R``: a white-yellow fireball growing within
    6 frames and burning until frame ``flash``, then turning into dark smoke within 6 frames; the
    smoke swells and thins out over ``smoke_frames`` (opacity ``1 - x**3``, ``x`` the share of them
    gone: dense for most of them, faint only at the end). Anchor: the ground point 0.6 radii below
    the blast centre (the caller moves it up as the smoke rises)."""
    rng = np.random.default_rng([seed, k])
    if k < flash:
        rad = R * (0.35 + 0.65 * (1 - (1 - min(1.0, (k + 1) / 6.0)) ** 2))
        opacity, smoke = 1.0, 0.0
    else:
        j = k - flash
        smoke = float(np.clip(j / 6.0, 0, 1))
        rad = R * (1.05 + 0.45 * (1 - math.exp(-j / 40.0)))
        x = min(1.0, max(0, j - 6) / max(1.0, smoke_frames))
        opacity = float(np.clip(1.0 - x ** 3, 0, 1))
    size = int(math.ceil(2.6 * rad)) + 4
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    c = size / 2 - 0.5
    d = np.hypot(yy - c, xx - c) / rad
    lump = value_noise(rng, size, size, max(1.5, 0.5 * rad))  # lumpy, puffy outline
    shape = 1 - d + 0.25 * lump
    heat = np.clip(shape * 1.6, 0, 1)
    fire_rgb = _palette(np.clip(heat + 0.25, 0, 1))
    grey = SMOKE_GREY + 40 * lump[..., None] + 25 * (1 - heat[..., None])
    rgb = fire_rgb * (1 - smoke) + np.broadcast_to(grey, fire_rgb.shape) * smoke
    alpha = (np.clip(shape * 4, 0, 1) * opacity).astype(np.float32)
    mask = alpha >= SOFT_MASK_ALPHA
    return Sprite(rgb=np.clip(rgb, 0, 255).astype(np.uint8), mask=mask,
                  anchor=(int(round(c + 0.6 * rad)), int(round(c))), alpha=alpha)


def plan_explosion(rng, scene: Scene, n_frames: int, snippet_len: int, walk_speed: float,
                   size: float) -> list[Track]:
    R = float(size)
    x, y, band = _ground_point(rng, scene, clearance=2.0 * R)
    flash = int(rng.integers(*FIREBALL_FRAMES))
    smoke_frames = float(rng.integers(50, 161))
    n = flash + 6 + int(smoke_frames) + 1
    s = _pick_start(rng, n_frames, snippet_len, min(n, 96))
    seed = int(rng.integers(2**31))
    k = np.arange(n, dtype=np.float64)
    j = np.clip(k - flash, 0, None)
    rise = np.where(k < flash, 0.0, 0.7 * R * (1 - np.exp(-j / 50.0)))  # the smoke rises
    sprites = SpriteSequence(lambda i: explosion_sprite(seed, i, R, flash, smoke_frames))
    return [Track("explosion", s, np.full(n, x), y - rise, np.arange(n), sprites,
                  anomalous=np.ones(n, bool), object_id=1, depth=np.full(n, y),
                  info={"radius": R, "flash_frames": flash, "smoke_frames": smoke_frames,
                        "surface": band.name})]


# planner(rng, scene, n_frames, snippet_len, walk_speed, size) -> anomaly tracks; ``size`` is the
# radius R for fire and explosion (agent anomalies take their size from ``scene.P``)
PLANNERS = {"fighting": plan_fighting, "running": plan_running,
            "car_on_sidewalk": plan_car_on_sidewalk, "road_accident": plan_road_accident,
            "fire": plan_fire, "explosion": plan_explosion}
