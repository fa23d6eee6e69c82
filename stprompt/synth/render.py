"""Simulate a SynthVAD video (scene, agents, anomaly, camera) and render it with exact ground truth.

:func:`simulate` draws everything random about a video from its seed and returns a :class:`Plan`
(cheap: no pixels except the background); :func:`ground_truth` reads boxes, frame labels and
tracks off the plan; :func:`render_frames` composites frames (and pixel masks) for any subset of
frames; :func:`render_video` does all three for one video, in memory.

Camera model: a static textured background (with lens vignetting), agents pasted in painter's order
(feet row), then a global per-channel illumination gain per frame (slow sinusoidal drift, a slow
colour tint, and frame-to-frame flicker) and additive Gaussian sensor noise. Rendering is vectorised
per frame in ``uint16`` (gain as a fixed-point multiply, noise from a per-video bank of noise
images read at random offsets), about 10x cheaper than float arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .agents import WALK_SPEED, Sprite, Track, normal_tracks
from .anomalies import AREA_FACTOR, PLANNERS
from .config import NORMAL, SynthConfig, VideoSpec, video_seed
from .distractors import plan_tree
from .scene import Scene, make_scene

NOISE_BANK = 4  # noise images per video
#: Moving things an anomaly brings into view while it lasts (the fighters, the runner, the car on
#: the sidewalk, a flickering fire or a swelling explosion); they take that many of the video's
#: clutter slots, so anomalous videos are not simply busier than normal ones
#: (``stprompt.synth.audit.motion_shortcut_auc``). A crash's cars stand still once they have
#: crashed, so they take no slot: the scene around the wreck stays as busy as a normal one.
MOVERS = {"fighting": 2, "running": 1, "car_on_sidewalk": 1, "road_accident": 0, "fire": 1,
          "explosion": 0}
NOISE_PAD = 32  # extra rows/cols of each noise image (random offsets)
NOISE_CLIP = 31  # noise values are clipped to +-NOISE_CLIP grey levels


@dataclass
class Plan:
    """Everything about one video except its pixels."""

    cfg: SynthConfig
    spec: VideoSpec
    scene: Scene
    tracks: list[Track]  # normal agents and anomaly objects
    gains: np.ndarray  # (T, 3) float32 illumination gain per frame and channel
    noise_pick: np.ndarray  # (T, 3) int: noise image index, row offset, column offset
    noise_seed: np.random.SeedSequence
    info: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return self.spec.n_frames(self.cfg)

    @property
    def anomaly_tracks(self) -> list[Track]:
        return sorted((t for t in self.tracks if t.object_id > 0), key=lambda t: t.object_id)


@dataclass
class GroundTruth:
    """Exact per-frame ground truth of one video (boxes: x1, y1, x2, y2 in pixels, x2/y2 exclusive)."""

    labels: np.ndarray  # (T,) uint8 0/1; 1 exactly where a box is present
    boxes: np.ndarray  # (T, 4) float32, NaN rows where no anomaly
    track_ids: np.ndarray  # (K,) int64 object ids of the anomalous objects (1..)
    track_boxes: np.ndarray  # (K, T, 4) float32, NaN where the object is not anomalous/visible
    masks: np.ndarray | None = None  # (T, H, W) uint8 0/1 pixels of anomalous objects
    info: dict = field(default_factory=dict)

    @property
    def segments(self) -> list[tuple[int, int]]:
        """Anomalous intervals as (first, last) frames, 0-based inclusive."""
        lab = np.concatenate([[0], self.labels.astype(np.int8), [0]])
        d = np.diff(lab)
        return [(int(s), int(e) - 1) for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1))]

    def area_fracs(self, frame_area: int) -> np.ndarray:
        """Box area / frame area on anomalous frames."""
        b = self.boxes[self.labels.astype(bool)]
        return ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) / frame_area).astype(np.float64)

    def mean_area_frac(self, frame_area: int) -> float | None:
        a = self.area_fracs(frame_area)
        return float(a.mean()) if a.size else None


# ------------------------------------------------------------------------------------------------
# Simulation
# ------------------------------------------------------------------------------------------------

def _loguniform(rng, lo, hi):
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _mean_area(tracks: list[Track], n_frames: int, W: int, H: int) -> float | None:
    gt = _boxes(tracks, n_frames, W, H)[0]
    ok = ~np.isnan(gt[:, 0])
    if not ok.any():
        return None
    b = gt[ok]
    return float(((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).mean() / (W * H))


def simulate(cfg: SynthConfig, spec: VideoSpec, textures: bool = True) -> Plan:
    """Draw the video's scene, agents, anomaly and camera from its seed ``(cfg.seed, spec.id)``.

    Sizes: the camera zoom — the pedestrian height ``P`` in pixels — is drawn log-uniformly from
    ``cfg.agent_height`` for every video, whatever its class, so the zoom says nothing about the
    label or the class (when each class had a zoom of its own, a far camera gave away a crash and a
    close one a runner, through appearance and through the motion of everything in view). Agent
    anomalies (fighting, running, car on sidewalk, crash) are drawn at that height, so their area
    follows from the zoom: about ``AREA_FACTOR[cls] · P²`` (a runner 0.3 P², a crash of two cars
    9 P²). Fire and explosion are drawn at the radius that gives a target mean box area ``a``
    (log-uniform in ``cfg.anomaly_area``); their realised area is measured and the radius corrected
    (at most twice) when it is off by more than 12 %.
    """
    T, W, H = spec.n_frames(cfg), cfg.width, cfg.height
    F = W * H
    size_ss, scene_ss, agent_ss, anom_ss, camera_ss, noise_ss, stop_ss, tree_ss = \
        video_seed(cfg.seed, spec.id).spawn(8)
    rng = np.random.default_rng(size_ss)
    target = _loguniform(rng, *cfg.anomaly_area)
    layout = cfg.layouts[int(rng.integers(len(cfg.layouts)))]
    P_px = int(round(_loguniform(rng, *cfg.agent_height)))  # the camera zoom: one law for every video
    speed_factor = rng.uniform(0.85, 1.15)
    n_agents = int(rng.integers(cfg.clutter[0], cfg.clutter[1] + 1))
    cls = spec.cls
    # agent anomalies are drawn at the scene's pedestrian height; fire and explosion at the radius
    # that gives the target area
    size = math.sqrt(target * F / AREA_FACTOR[cls]) if cls in ("fire", "explosion") else None

    anomaly: list[Track] = []
    realised, attempt = None, -1
    scene = make_scene(np.random.default_rng(scene_ss), W, H, P_px, layout, textures=False)
    walk_speed = WALK_SPEED * P_px * speed_factor
    for attempt in range(3 if cls != NORMAL else 0):
        anomaly = PLANNERS[cls](np.random.default_rng(anom_ss), scene, T, cfg.snippet_len,
                                walk_speed, size if size is not None else P_px,
                                **({"knockdown": cfg.fight_knockdown} if cls == "fighting" else {}))
        realised = _mean_area(anomaly, T, W, H)
        if size is None or realised is None or abs(math.log(target / realised)) < math.log(1.12) \
                or attempt == 2:
            break
        size *= math.sqrt(target / realised)

    if textures:
        scene = make_scene(np.random.default_rng(scene_ss), W, H, P_px, layout, textures=True)
    car_until = stop = blocked = closed = None
    if cls == "road_accident":
        first = [tr.t0 + int(np.argmax(tr.anomalous)) for tr in anomaly if tr.anomalous.any()]
        car_until = min(first) if first else None
        wreck = [tr.box(tr.t1 - 1, W, H) for tr in anomaly]
        wreck = [b for b in wreck if b is not None]
        if car_until is not None and wreck:
            # the wreck stands in the lower lane: its cars queue behind it, the other lane flows on
            # once the swerving car has left it; no normal car shares a lane with a crash car before
            lower = max(range(len(scene.lanes)), key=lambda i: scene.lanes[i].y_wheel)
            upper = min(range(len(scene.lanes)), key=lambda i: scene.lanes[i].y_wheel)
            blocked = {lower: (float(min(b[0] for b in wreck)), float(max(b[2] for b in wreck)))}
            by_id = {tr.object_id: tr for tr in anomaly}
            settle = car_until + int(by_id[1].info.get("collision_frame", car_until) - car_until) + 8
            closed = {upper: (by_id[1].t0, settle), lower: (by_id[2].t0, car_until)}
    else:
        stop_rng = np.random.default_rng(stop_ss)
        if stop_rng.random() < cfg.traffic_stops:
            length = int(stop_rng.integers(48, 201))
            a = int(stop_rng.integers(0, max(1, T - length // 2)))
            stop = (a, a + length)
    # as many moving things as a normal video of the same clutter: the anomaly's movers take slots
    n_normal = max(0, n_agents - MOVERS.get(cls, 0))
    normal = normal_tracks(np.random.default_rng(agent_ss), scene, T, n_normal, walk_speed, car_until, stop,
                           blocked, closed)
    tree_rng = np.random.default_rng(tree_ss)
    if tree_rng.random() < cfg.trees:  # a crown of about an anomaly's size
        crown = math.sqrt(_loguniform(tree_rng, *cfg.anomaly_area) * F / math.pi) / 1.15
        normal.append(plan_tree(tree_rng, scene, T, crown))

    cam = np.random.default_rng(camera_ss)
    t = np.arange(T, dtype=np.float64)
    exposure = cam.uniform(0.92, 1.08)
    drift = 1 + cfg.drift * np.sin(2 * np.pi * t / cam.uniform(300, 1200) + cam.uniform(0, 2 * np.pi))
    tint = 1 + 0.03 * np.sin(2 * np.pi * t[:, None] / cam.uniform(400, 1600)
                             + cam.uniform(0, 2 * np.pi, 3)[None, :])
    flicker = 1 + cam.uniform(-cfg.flicker, cfg.flicker, T) if cfg.flicker > 0 else np.ones(T)
    gains = (exposure * drift[:, None] * tint * flicker[:, None]).astype(np.float32)
    noise_pick = np.stack([cam.integers(0, NOISE_BANK, T), cam.integers(0, NOISE_PAD + 1, T),
                           cam.integers(0, NOISE_PAD + 1, T)], axis=1)
    info = {"layout": layout, "agent_height": P_px, "walk_speed": walk_speed, "n_agents": n_normal,
            "traffic_stop": list(stop) if stop else None,
            "target_area_frac": target if size is not None else None,
            "realised_area_frac": realised, "size_attempts": attempt + 1,
            "anomaly_size": size if size is not None else (P_px if cls != NORMAL else None)}
    return Plan(cfg=cfg, spec=spec, scene=scene, tracks=normal + anomaly, gains=gains,
                noise_pick=noise_pick, noise_seed=noise_ss, info=info)


# ------------------------------------------------------------------------------------------------
# Ground truth
# ------------------------------------------------------------------------------------------------

def _boxes(anomaly_tracks: list[Track], T: int, W: int, H: int):
    """Per-object and union boxes over frames ``0..T-1``."""
    anomaly_tracks = [t for t in anomaly_tracks if t.object_id > 0]
    per = np.full((len(anomaly_tracks), T, 4), np.nan, np.float32)
    for i, tr in enumerate(anomaly_tracks):
        for t in range(max(0, tr.t0), min(T, tr.t1)):
            if tr.anomalous[t - tr.t0]:
                b = tr.box(t, W, H)
                if b is not None:
                    per[i, t] = b
    union = np.full((T, 4), np.nan, np.float32)
    if per.size:
        present = ~np.isnan(per[..., 0])
        any_ = present.any(0)
        with np.errstate(all="ignore"):
            union[any_, 0] = np.nanmin(per[:, any_, 0], axis=0)
            union[any_, 1] = np.nanmin(per[:, any_, 1], axis=0)
            union[any_, 2] = np.nanmax(per[:, any_, 2], axis=0)
            union[any_, 3] = np.nanmax(per[:, any_, 3], axis=0)
    return union, per, [tr.object_id for tr in anomaly_tracks]


def ground_truth(plan: Plan, masks: np.ndarray | None = None) -> GroundTruth:
    """Boxes, labels and tracks of ``plan`` (``masks`` from :func:`render_frames` are attached)."""
    cfg = plan.cfg
    T = plan.n_frames
    union, per, ids = _boxes(plan.anomaly_tracks, T, cfg.width, cfg.height)
    keep = [i for i in range(len(ids)) if not np.isnan(per[i, :, 0]).all()]
    info = dict(plan.info)
    info.update({"id": plan.spec.id, "class": plan.spec.cls, "split": plan.spec.split})
    runner = [tr for tr in plan.anomaly_tracks if tr.info.get("role") == "runner"]
    if runner:
        info["run_speed"] = runner[0].info["run_speed"]
        info["run_speed_factor"] = runner[0].info["speed_factor"]
    return GroundTruth(labels=(~np.isnan(union[:, 0])).astype(np.uint8), boxes=union,
                       track_ids=np.asarray([ids[i] for i in keep], np.int64),
                       track_boxes=per[keep] if keep else np.full((0, T, 4), np.nan, np.float32),
                       masks=masks, info=info)


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------

def _paste(buf: np.ndarray, sprite: Sprite, y0: int, x0: int, mask_out: np.ndarray | None) -> None:
    """Composite ``sprite`` with its top-left corner at (y0, x0) into ``buf`` (H, W, 3) uint16."""
    H, W = buf.shape[:2]
    h, w = sprite.shape
    sy0, sx0 = max(0, -y0), max(0, -x0)
    sy1, sx1 = min(h, H - y0), min(w, W - x0)
    if sy1 <= sy0 or sx1 <= sx0:
        return
    region = buf[y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1]
    rgb = sprite.rgb[sy0:sy1, sx0:sx1]
    if sprite.alpha is None:
        np.copyto(region, rgb, where=sprite.mask[sy0:sy1, sx0:sx1, None])
    else:
        a = sprite.alpha[sy0:sy1, sx0:sx1, None]
        region[...] = region * (1 - a) + rgb * a + 0.5
    if mask_out is not None:
        mask_out[y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1] |= sprite.mask[sy0:sy1, sx0:sx1]


def noise_image(plan: Plan, k: int) -> np.ndarray:
    """Noise image ``k`` of the video's bank: (H+PAD, W+PAD, 3) uint16 holding noise + NOISE_CLIP+1
    (never negative). Each image has its own seed, so rendering any subset of frames gives the
    same pixels as rendering the whole video."""
    cfg = plan.cfg
    shape = (cfg.height + NOISE_PAD, cfg.width + NOISE_PAD, 3)
    off = NOISE_CLIP + 1
    if cfg.noise_sigma <= 0:
        return np.full(shape, off, np.uint16)
    rng = np.random.default_rng([*plan.noise_seed.generate_state(4), int(k)])
    noise = rng.standard_normal(shape, dtype=np.float32) * np.float32(cfg.noise_sigma)
    return (np.clip(np.rint(noise), -NOISE_CLIP, NOISE_CLIP) + off).astype(np.uint16)


def render_frames(plan: Plan, frames=None, with_masks: bool = True, block: int = 16,
                  hide_anomalies: bool = False):
    """Render frames ``frames`` (indices; default all) of ``plan``.

    Returns ``(images (N, H, W, 3) uint8, masks (N, H, W) uint8 or None)``; the masks hold the
    anomalous objects' pixels on the frames where they are anomalous. ``hide_anomalies`` leaves the
    anomaly objects out on those frames (everything else, noise included, is the same), so the
    difference with the normal render is exactly what the anomaly adds: its *footprint*
    (:mod:`stprompt.synth.audit`)."""
    cfg, scene = plan.cfg, plan.scene
    if scene.background is None:
        raise ValueError("render_frames: the plan's scene has no textures (simulate(textures=True))")
    H, W = cfg.height, cfg.width
    idx = np.arange(plan.n_frames) if frames is None else np.asarray(frames, np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= plan.n_frames):
        raise ValueError(f"render_frames: frame indices must lie in [0, {plan.n_frames}), got "
                         f"{idx.min()}..{idx.max()}")
    bg = (scene.background.astype(np.float32) * scene.vignette[..., None] + 0.5).astype(np.uint16)
    bank = {int(k): noise_image(plan, k) for k in np.unique(plan.noise_pick[idx, 0])}
    off = NOISE_CLIP + 1
    out = np.empty((idx.size, H, W, 3), np.uint8)
    masks = np.zeros((idx.size, H, W), np.uint8) if with_masks else None
    tracks = sorted(plan.tracks, key=lambda tr: tr.t0)
    starts = np.array([tr.t0 for tr in tracks])
    gq_all = np.rint(plan.gains * 128).clip(0, 256).astype(np.uint16)  # fixed-point gain, 1.0 = 128
    buf = np.empty((block, H, W, 3), np.uint16)
    for b0 in range(0, idx.size, block):
        chunk = idx[b0:b0 + block]
        n = chunk.size
        buf[:n] = bg
        for i, t in enumerate(chunk):
            t = int(t)
            live = [tr for tr in tracks[:int(np.searchsorted(starts, t, "right"))] if t < tr.t1]
            live.sort(key=lambda tr: tr.depth[t - tr.t0])
            m_out = masks[b0 + i].view(bool) if with_masks else None
            for tr in live:
                sprite, y0, x0 = tr.placed(t)
                anomalous = bool(tr.anomalous[t - tr.t0]) and tr.object_id > 0
                if anomalous and hide_anomalies:
                    continue
                _paste(buf[i], sprite, y0, x0, m_out if anomalous else None)
            k, dy, dx = plan.noise_pick[t]
            f = buf[i]
            f *= gq_all[t]
            f >>= 7
            f += bank[int(k)][dy:dy + H, dx:dx + W]
        np.clip(buf[:n], off, 255 + off, out=buf[:n])
        buf[:n] -= off
        out[b0:b0 + n] = buf[:n]
    return out, masks


def render_video(cfg: SynthConfig, spec: VideoSpec, with_masks: bool = True):
    """Render one whole video in memory: ``(frames (T, H, W, 3) uint8, GroundTruth)``."""
    plan = simulate(cfg, spec)
    frames, masks = render_frames(plan, with_masks=with_masks)
    return frames, ground_truth(plan, masks)


def sample_frames(cfg: SynthConfig, per_class: int = 3, split: str = "test",
                  classes: list[str] | None = None) -> dict[str, list[dict]]:
    """One frame per video for a look at the data: class -> ``[{"frame", "box", "title"}]``, the
    frame taken in the middle of the anomaly (of the video for normal videos), as in
    :func:`stprompt.reports.viz.sample_frame_grid`. Videos are those of ``split`` (indices 0..per_class-1,
    whether or not the config's counts include them)."""
    from .config import make_spec

    out: dict[str, list[dict]] = {}
    for cls in classes or [NORMAL, *cfg.classes]:
        items = []
        for i in range(per_class):
            plan = simulate(cfg, make_spec(cfg, split, cls, i))
            gt = ground_truth(plan)
            segs = gt.segments
            t = (segs[0][0] + segs[0][1]) // 2 if segs else plan.n_frames // 2
            frame = render_frames(plan, [t], with_masks=False)[0][0]
            items.append({"frame": frame, "box": gt.boxes[t] if gt.labels[t] else None,
                          "title": f"{plan.spec.id} t={t}"})
        out[cls] = items
    return out
