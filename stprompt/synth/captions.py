"""Captioned images for pretraining the tiny CLIP on SynthVAD (DESIGN.md §2).

:func:`caption_dataset` renders scenes of the training distribution whose seeds come from a stream
of their own (ids ``caption-<split>-<seed>-<i>``, never ``train_/val_/test_...``), so no validation or
test scene is ever seen; ``split="heldout"`` draws another disjoint stream for evaluating the
pretrained model. From each scene it cuts four kinds of samples:

- ``anomaly``: a crop around the anomalous object(s): "a fire on the road", "two people fighting on
  the sidewalk", "a car crash on the road", "an explosion", "a car driving on the sidewalk"...
  ``running`` has no caption of its own: a running person in a still crop is captioned as an
  ordinary person (only motion reveals it);
- ``agent``: a crop around a normal agent: "a person walking on the sidewalk", "a red car on the road";
- ``background``: a crop of one surface without agents: "a picture of grass" (sky, road, building,
  sidewalk) — the normal queries of the spatial stream;
- ``frame``: the whole frame, squashed to a square: "a surveillance view of a street",
  "a street with a fire on the road";
- ``window``: one window of the grid the features cut (``window_boxes``: by default 3x4 windows of
  48x48 pixels, ``01_data_prep``'s recipe), captioned by what it holds: the anomaly when it holds most
  of the anomaly's box (or the anomaly fills a quarter of it), else the normal agent or tree it holds
  most of, else its main surface. These are the images the spatial stream and SA2 ask the CLIP
  about: off-centre, partly cut objects, surfaces at the edge of a window.

Every caption follows the ground truth's definition of the anomaly (the frames and boxes where it is
labelled, :mod:`stprompt.synth.audit`): a crop is captioned as an anomaly only on labelled frames.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .config import NORMAL, SynthConfig, VideoSpec
from .render import Plan, render_frames, simulate
from .scene import SURFACES

KINDS = ("anomaly", "agent", "background", "frame", "window")
DEFAULT_MIX = {"anomaly": 0.3, "agent": 0.25, "background": 0.3, "frame": 0.15, "window": 0.0}
PER_SCENE = {"anomaly": 3, "agent": 3, "background": 4, "frame": 2, "window": 4}  # most samples of a kind per scene
DEFAULT_WINDOWS = ((3, 4), (48, 48))  # (grid rows, cols), (height, width): 01_data_prep's default recipe

# "{s}" is the surface under the object (road, sidewalk, grass)
ANOMALY_TEMPLATES = {
    "fire": ["a fire on the {s}", "flames on the {s}", "a fire burning on the {s}", "a photo of a fire",
             "a fire"],
    "fighting": ["two people fighting on the {s}", "a fight on the {s}", "people fighting",
                 "a photo of two people fighting", "two people fighting"],
    "explosion": ["an explosion", "an explosion on the {s}", "a photo of an explosion",
                  "an explosion with smoke"],
    "explosion_flash": ["a bright explosion", "an explosion", "a flash of an explosion on the {s}"],
    "explosion_smoke": ["smoke from an explosion", "an explosion", "a cloud of smoke on the {s}"],
    "road_accident": ["a car crash on the road", "two cars crashed on the road", "a traffic accident",
                      "a photo of a car accident", "a car crash"],
    "car_on_sidewalk": ["a car driving on the sidewalk", "a car on the sidewalk",
                        "a photo of a car on the sidewalk", "a vehicle driving on the pavement"],
}
PEDESTRIAN_TEMPLATES = ["a person walking on the {s}", "a pedestrian on the {s}", "a person on the {s}",
                        "a photo of a person", "a person walking"]
CAR_TEMPLATES = ["a car on the road", "a car driving on the road", "a {c} car on the road",
                 "a photo of a {c} car", "a {c} car"]
TREE_TEMPLATES = ["a picture of tree", "a tree", "a tree on the {s}", "a tree in the wind", "a photo of a tree"]
BACKGROUND_TEMPLATES = ["a picture of {s}", "a photo of {s}", "a picture of {s}", "{s}"]
SCENE_WORDS = {"street": "a street", "park": "a road through a park", "plaza": "a plaza by a road",
               "field": "a road by a field"}
FRAME_TEMPLATES = ["a surveillance view of {scene}", "a picture of {scene}", "{scene} seen by a camera"]
ANOMALY_FRAME_TEMPLATES = ["{scene} with {a}", "a surveillance view of {a}", "a picture of {a}"]
ANOMALY_PHRASES = {"fire": "a fire on the {s}", "fighting": "two people fighting on the {s}",
                   "explosion": "an explosion", "road_accident": "a car crash on the road",
                   "car_on_sidewalk": "a car driving on the sidewalk"}


def resize_image(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Antialiased bilinear resize (a tent filter widened by the downscale factor, like PIL's
    BILINEAR) of an (h, w, 3) uint8 image, as two small matrix products."""
    def weights(n_in: int, n_out: int) -> np.ndarray:
        scale = n_in / n_out
        support = max(scale, 1.0)
        centres = (np.arange(n_out) + 0.5) * scale
        x = np.arange(n_in) + 0.5
        w = np.clip(1 - np.abs(x[None, :] - centres[:, None]) / support, 0, None)
        return (w / w.sum(1, keepdims=True)).astype(np.float32)

    h, w = img.shape[:2]
    wy, wx = weights(h, out_h), weights(w, out_w)
    rows = (wy @ img.reshape(h, -1).astype(np.float32)).reshape(out_h, w, 3)
    out = (rows.transpose(0, 2, 1).reshape(-1, w) @ wx.T).reshape(out_h, 3, out_w)
    return np.clip(out.transpose(0, 2, 1) + 0.5, 0, 255).astype(np.uint8)


def _crop_square(rng, box, W, H, scale_range, min_side=16):
    """A square crop (x1, y1, x2, y2) around ``box`` enlarged by a random factor, jittered, inside
    the frame."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * rng.uniform(*scale_range)
    side = int(round(min(max(side, min_side), H, W)))
    cx = (x1 + x2) / 2 + rng.uniform(-0.1, 0.1) * side
    cy = (y1 + y2) / 2 + rng.uniform(-0.1, 0.1) * side
    cx0 = int(np.clip(round(cx - side / 2), 0, W - side))
    cy0 = int(np.clip(round(cy - side / 2), 0, H - side))
    return cx0, cy0, cx0 + side, cy0 + side


def _overlap(a, b) -> float:
    """Area of box ``b`` inside box ``a`` / area of ``b``."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (b[2] - b[0]) * (b[3] - b[1])
    return ix * iy / area if area > 0 else 0.0


def _surface_word(plan: Plan, x: float, y: float) -> str:
    return SURFACES[plan.scene.surface_at(x, y)]


def _inside(window, box) -> float:
    """Share of ``box`` inside ``window``."""
    return _overlap(window, box)


def _window_samples(rng, plan: Plan, windows: np.ndarray, anomaly_boxes: dict, k: int,
                    anomaly_key_and_surface) -> list[dict]:
    """``k`` grid windows of random frames, captioned by their content (module docstring)."""
    cfg, scene = plan.cfg, plan.scene
    W, H, T = cfg.width, cfg.height, plan.n_frames
    cls = plan.spec.cls
    out = []
    labelled = sorted(anomaly_boxes)
    for _ in range(k):
        # half of an anomalous scene's windows come from labelled frames, so anomalies are seen
        if labelled and cls not in (NORMAL, "running") and rng.random() < 0.5:
            t = int(labelled[rng.integers(len(labelled))])
        else:
            t = int(rng.integers(T))
        win = tuple(int(v) for v in windows[rng.integers(len(windows))])
        wa = (win[2] - win[0]) * (win[3] - win[1])
        box = anomaly_boxes.get(t)
        if box is not None and cls not in (NORMAL, "running"):
            held = _inside(win, box)  # share of the anomaly's box in the window
            fill = held * (box[2] - box[0]) * (box[3] - box[1]) / wa  # share of the window it fills
            if held >= 0.5 or fill >= 0.25:
                key, surf = anomaly_key_and_surface(t)
                tmpl = ANOMALY_TEMPLATES[key]
                out.append({"kind": "window", "frame": t, "crop": win, "anomalous": True, "category": cls,
                            "caption": tmpl[rng.integers(len(tmpl))].format(s=surf)})
                continue
            if held > 0.1 or fill > 0.05:
                continue  # part of the anomaly shows: neither anomalous nor clearly normal
        best, best_share = None, 0.0
        for tr in plan.tracks:
            if not tr.covers(t) or (tr.object_id > 0 and tr.anomalous[t - tr.t0] and cls != "running"):
                continue
            b = tr.box(t, W, H)
            if b is None:
                continue
            share = _inside(win, b)
            if share >= 0.5 and (b[2] - b[0]) * (b[3] - b[1]) >= 0.04 * wa and share > best_share:
                best, best_share = tr, share
        if best is not None:
            k_ = t - best.t0
            surf = _surface_word(plan, best.fx[k_], best.fy[k_] - 1)
            if best.kind == "pedestrian":
                caption, category = PEDESTRIAN_TEMPLATES[rng.integers(len(PEDESTRIAN_TEMPLATES))].format(s=surf), "pedestrian"
            elif best.kind == "tree":
                caption, category = TREE_TEMPLATES[rng.integers(len(TREE_TEMPLATES))].format(s=surf), "tree"
            else:
                caption = CAR_TEMPLATES[rng.integers(len(CAR_TEMPLATES))].format(c=best.info["color"])
                category = "car"
        else:
            labels = scene.labels[win[1]:win[3], win[0]:win[2]]
            values, counts = np.unique(labels, return_counts=True)
            main = int(values[np.argmax(counts)])
            caption = BACKGROUND_TEMPLATES[rng.integers(len(BACKGROUND_TEMPLATES))].format(s=SURFACES[main])
            category = SURFACES[main]
        out.append({"kind": "window", "frame": t, "crop": win, "anomalous": False, "category": category,
                    "caption": caption, **({"source": "running"} if cls == "running" else {})})
    return out


def _scene_samples(rng, plan: Plan, need: dict[str, int], windows: np.ndarray | None = None) -> list[dict]:
    """Sample requests (kind, frame, crop box, caption, info) from one scene."""
    cfg, scene = plan.cfg, plan.scene
    W, H, T = cfg.width, cfg.height, plan.n_frames
    cls = plan.spec.cls
    out = []
    anomaly_tracks = plan.anomaly_tracks
    # frames where the anomaly shows, and its union box
    boxes = {}
    for tr in anomaly_tracks:
        for t in range(max(0, tr.t0), min(T, tr.t1)):
            if tr.anomalous[t - tr.t0]:
                b = tr.box(t, W, H)
                if b is not None:
                    u = boxes.get(t)
                    boxes[t] = b if u is None else (min(u[0], b[0]), min(u[1], b[1]),
                                                    max(u[2], b[2]), max(u[3], b[3]))
    anomalous_frames = sorted(boxes)

    def anomaly_key_and_surface(t):
        tr = anomaly_tracks[0]
        if cls == "explosion":
            k = t - tr.t0
            key = "explosion_flash" if k < tr.info["flash_frames"] else "explosion_smoke"
            if rng.random() < 0.4:
                key = "explosion"
            return key, tr.info["surface"]
        if cls == "fire":
            return cls, tr.info["surface"]
        if cls == "fighting":
            return cls, _surface_word(plan, tr.fx[t - tr.t0], tr.fy[t - tr.t0] - 1)
        return cls, "road" if cls == "road_accident" else "sidewalk"

    # anomaly crops (never for running: it is captioned as an ordinary person below)
    if need.get("anomaly", 0) and cls not in (NORMAL, "running") and anomalous_frames:
        frames = anomalous_frames
        if cls == "road_accident":  # after the impact the crash is visible in a still
            tc = anomaly_tracks[0].info["collision_frame"]
            frames = [t for t in frames if t >= tc] or frames
        if cls == "explosion":  # not the last, thin smoke (opacity below ~0.5, anomalies.explosion_sprite)
            tr = anomaly_tracks[0]
            dense = tr.t0 + tr.info["flash_frames"] + 6 + 0.8 * tr.info["smoke_frames"]
            frames = [t for t in frames if t <= dense] or frames
        for _ in range(min(PER_SCENE["anomaly"], need["anomaly"])):
            t = int(frames[rng.integers(len(frames))])
            key, surf = anomaly_key_and_surface(t)
            tmpl = ANOMALY_TEMPLATES[key]
            caption = tmpl[rng.integers(len(tmpl))].format(s=surf)
            out.append({"kind": "anomaly", "frame": t, "crop": _crop_square(rng, boxes[t], W, H, (1.1, 1.6)),
                        "caption": caption, "category": cls, "anomalous": True})
    # agent crops: normal agents (and the runner, and fighters before/after the fight)
    if need.get("agent", 0):
        candidates = []
        for tr in plan.tracks:
            if tr.kind not in ("pedestrian", "car", "tree"):
                continue
            runner = tr.info.get("role") == "runner"
            lo, hi = max(0, tr.t0), min(T, tr.t1)
            if hi <= lo:
                continue
            running = [t for t in range(lo, hi) if tr.anomalous[t - tr.t0]] if runner else []
            for _ in range(3):
                t = int(running[rng.integers(len(running))]) if running and rng.random() < 0.7 \
                    else int(rng.integers(lo, hi))
                if tr.anomalous[t - tr.t0] and not runner:
                    continue  # an anomaly object while anomalous is not an ordinary agent
                b = tr.box(t, W, H)
                sprite, y0, x0 = tr.placed(t)
                by0, bx0, by1, bx1 = sprite.bbox
                if b is None or b != (x0 + bx0, y0 + by0, x0 + bx1, y0 + by1):  # partly out of view
                    continue
                candidates.append((tr, t, b, runner))
                break
        # the runner first: its still crop must be captioned like any pedestrian
        order = sorted(range(len(candidates)), key=lambda j: (not candidates[j][3], rng.random()))
        order = order[:min(PER_SCENE["agent"], need["agent"])]
        for i in order:
            tr, t, b, runner = candidates[i]
            crop = _crop_square(rng, b, W, H, (1.2, 1.8))
            if t in boxes and not runner and _overlap(crop, boxes[t]) > 0.2:
                continue
            k = t - tr.t0
            if tr.kind == "pedestrian":
                surf = _surface_word(plan, tr.fx[k], tr.fy[k] - 1)
                tmpl = PEDESTRIAN_TEMPLATES
                caption = tmpl[rng.integers(len(tmpl))].format(s=surf)
                category = "pedestrian"
            elif tr.kind == "tree":
                surf = _surface_word(plan, tr.fx[k], tr.fy[k] - 1)
                caption = TREE_TEMPLATES[rng.integers(len(TREE_TEMPLATES))].format(s=surf)
                category = "tree"
            else:
                tmpl = CAR_TEMPLATES
                caption = tmpl[rng.integers(len(tmpl))].format(c=tr.info["color"])
                category = "car"
            out.append({"kind": "agent", "frame": t, "crop": crop, "caption": caption,
                        "category": category, "anomalous": False,
                        "source": "running" if runner else "normal"})
    # background crops: one surface, rendered without agents
    if need.get("background", 0):
        # surfaces with a band at least 10 rows tall; a square inside one band, mostly that surface
        options = [(b.surface, b) for b in scene.bands if b.height >= 10]
        surfaces = sorted({s for s, _ in options})
        for _ in range(min(PER_SCENE["background"], need["background"])):
            s = surfaces[rng.integers(len(surfaces))]
            bands = [b for x, b in options if x == s]
            band = bands[rng.integers(len(bands))]
            for _ in range(10):
                side = int(rng.integers(10, min(48, band.height, W) + 1))
                x0 = int(rng.integers(0, W - side + 1))
                y0 = int(rng.integers(band.y0, band.y1 - side + 1))
                if (scene.labels[y0:y0 + side, x0:x0 + side] == s).mean() >= 0.85:
                    tmpl = BACKGROUND_TEMPLATES
                    out.append({"kind": "background", "frame": int(rng.integers(T)),
                                "crop": (x0, y0, x0 + side, y0 + side),
                                "caption": tmpl[rng.integers(len(tmpl))].format(s=SURFACES[s]),
                                "category": SURFACES[s], "anomalous": False})
                    break
    if need.get("window", 0) and windows is not None:
        out += _window_samples(rng, plan, windows, boxes, min(PER_SCENE["window"], need["window"]),
                               anomaly_key_and_surface)
    scene_words = SCENE_WORDS[scene.layout]
    for _ in range(min(PER_SCENE["frame"], need.get("frame", 0))):
        if anomalous_frames and cls not in (NORMAL, "running") and rng.random() < 0.6:
            t = int(anomalous_frames[rng.integers(len(anomalous_frames))])
            key, surf = anomaly_key_and_surface(t)
            phrase = ANOMALY_PHRASES[cls].format(s=surf)
            tmpl = ANOMALY_FRAME_TEMPLATES
            caption = tmpl[rng.integers(len(tmpl))].format(scene=scene_words, a=phrase)
            out.append({"kind": "frame", "frame": t, "crop": (0, 0, W, H), "caption": caption,
                        "category": cls, "anomalous": True})
        else:  # a frame without a visible anomaly (any frame of a running scene: stills show none)
            normal_frames = [t for t in range(T) if t not in boxes] if cls != "running" else list(range(T))
            t = int(normal_frames[rng.integers(len(normal_frames))])
            tmpl = FRAME_TEMPLATES
            out.append({"kind": "frame", "frame": t, "crop": (0, 0, W, H),
                        "caption": tmpl[rng.integers(len(tmpl))].format(scene=scene_words),
                        "category": "scene", "anomalous": False,
                        **({"source": "running"} if cls == "running" else {})})
    return out


def caption_dataset(cfg: SynthConfig, n: int, seed: int = 0, split: str = "train", size: int = 64,
                    mix: dict[str, float] | None = None, classes: list[str] | None = None,
                    normal_scene_frac: float = 0.25, windows=DEFAULT_WINDOWS):
    """``n`` captioned images for CLIP pretraining (or, with ``split="heldout"``, evaluation).

    Args:
        cfg: the SynthVAD config whose world (sizes, clutter, noise) the scenes follow.
        n: number of images.
        seed: picks the scene stream; different seeds give disjoint scenes.
        split: ``"train"`` or ``"heldout"`` (two disjoint scene streams, both disjoint from every
            dataset video).
        size: side of the square output images in pixels.
        mix: fraction of each sample kind (``anomaly``, ``agent``, ``background``, ``frame``,
            ``window``).
        windows: ``((rows, cols), (height, width))`` of the window grid the ``window`` samples are
            cut from (spread evenly over the frame, as :func:`stprompt.features.window_boxes`).
        classes: anomaly classes whose scenes are drawn; default ``cfg.classes`` (open-set held-out
            classes included, as a web-pretrained CLIP knows fires and fights; pass the training
            classes to exclude them).
        normal_scene_frac: share of scenes without anomaly.

    Returns:
        ``(images (n, size, size, 3) uint8, captions list[str], info list[dict])``; ``info`` has
        ``kind``, ``category`` (anomaly class, ``pedestrian``, ``car``, a surface name or ``scene``),
        ``anomalous`` (what the caption says), ``scene_class``, ``scene_id``, ``frame`` and ``crop``
        (x1, y1, x2, y2 in the frame).
    """
    if split not in ("train", "heldout"):
        raise ValueError(f"caption_dataset: split must be 'train' or 'heldout', got {split!r}")
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = set(mix) - set(KINDS)
    if unknown or not mix or min(mix.values()) < 0 or sum(mix.values()) <= 0:
        raise ValueError(f"caption_dataset: mix must map some of {KINDS} to fractions >= 0, got {mix}")
    classes = list(cfg.classes if classes is None else classes)
    if any(c not in cfg.classes for c in classes):
        raise ValueError(f"caption_dataset: classes {classes} must be a subset of {cfg.classes}")
    total = sum(mix.values())
    from ..features import window_boxes

    grid_boxes = window_boxes(cfg.height, cfg.width, windows[0], windows[1]) if mix.get("window") else None
    quota = {k: int(round(n * mix.get(k, 0) / total)) for k in KINDS}
    quota[max(quota, key=lambda k: mix.get(k, 0))] += n - sum(quota.values())  # exact total
    pools: dict[str, list] = {k: [] for k in KINDS}
    order_rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    i = 0
    while any(len(pools[k]) < quota[k] for k in KINDS):
        if i > 20 * n + 100:
            raise RuntimeError(f"caption_dataset: could not fill quotas {quota} "
                               f"(got { {k: len(v) for k, v in pools.items()} })")
        anomalous_needed = len(pools["anomaly"]) < quota["anomaly"]
        if classes and (order_rng.random() >= normal_scene_frac or
                        (anomalous_needed and all(len(pools[k]) >= quota[k] for k in KINDS if k != "anomaly"))):
            cls = classes[int(order_rng.integers(len(classes)))]
        else:
            cls = NORMAL
        spec = VideoSpec(id=f"caption-{split}-{seed}-{i}", split="train", cls=cls,
                         n_snippets=cfg.snippets[0])
        i += 1
        plan = simulate(cfg, spec)
        rng = np.random.default_rng([seed, 2 if split == "train" else 3, i])
        need = {k: quota[k] - len(pools[k]) for k in KINDS}
        requests = [r for r in _scene_samples(rng, plan, need, grid_boxes)
                    if len(pools[r["kind"]]) < quota[r["kind"]]]
        if not requests:
            continue
        taken = []
        for r in requests:
            if len(pools[r["kind"]]) < quota[r["kind"]]:
                pools[r["kind"]].append(r)
                taken.append(r)
        frames_needed = sorted({r["frame"] for r in taken if r["kind"] != "background"})
        bg_needed = sorted({r["frame"] for r in taken if r["kind"] == "background"})
        rendered = {}
        if frames_needed:
            imgs, _ = render_frames(plan, frames_needed, with_masks=False)
            rendered.update({(t, True): im for t, im in zip(frames_needed, imgs)})
        if bg_needed:
            empty = dataclasses.replace(plan, tracks=[])
            imgs, _ = render_frames(empty, bg_needed, with_masks=False)
            rendered.update({(t, False): im for t, im in zip(bg_needed, imgs)})
        for r in taken:
            x1, y1, x2, y2 = r["crop"]
            frame = rendered[(r["frame"], r["kind"] != "background")]
            r["image"] = resize_image(frame[y1:y2, x1:x2], size, size)
            r["scene_class"], r["scene_id"] = cls, spec.id
    samples = [s for k in KINDS for s in pools[k][:quota[k]]]
    perm = np.random.default_rng([seed, 4 if split == "train" else 5]).permutation(len(samples))
    samples = [samples[j] for j in perm]
    images = np.stack([s["image"] for s in samples]) if samples else np.zeros((0, size, size, 3), np.uint8)
    captions = [s["caption"] for s in samples]
    info = [{k: v for k, v in s.items() if k not in ("image", "caption")} for s in samples]
    for d in info:
        d["crop"] = [int(v) for v in d["crop"]]
    return images, captions, info
