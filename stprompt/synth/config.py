"""SynthVAD parameters (:class:`SynthConfig`) and the list of videos they define (:class:`VideoSpec`).

Every random choice of a video is drawn from a ``numpy.random.Generator`` seeded by
``(cfg.seed, video id)`` only (:func:`video_seed`), so a video is the same whichever other videos are
generated, in whatever order, by however many worker processes.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

import numpy as np

NORMAL = "normal"
#: Every anomaly class the generator knows, in the order used for class indices (normal = 0).
ANOMALY_CLASSES: tuple[str, ...] = ("fighting", "fire", "explosion", "road_accident", "running",
                                    "car_on_sidewalk")
#: Anomalies made of agents (pedestrians, cars): their size sets the camera zoom of the video.
OBJECT_CLASSES: tuple[str, ...] = ("fighting", "road_accident", "running", "car_on_sidewalk")
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Camera layouts (see :mod:`stprompt.synth.scene`).
LAYOUTS: tuple[str, ...] = ("street", "park", "plaza", "field")


@dataclass
class SynthConfig:
    """Everything that defines a SynthVAD dataset; its :func:`stprompt.config.config_hash` names it.

    Default counts give 304 videos (180 train, 34 val, 90 test): the default benchmark.
    """

    seed: int = 0  # master seed; each video's generator is seeded by (seed, video id)
    classes: list[str] = field(default_factory=lambda: list(ANOMALY_CLASSES))  # anomaly classes generated
    open_set_holdout: list[str] = field(default_factory=list)  # classes kept out of train/val, present in test
    n_train_per_class: int = 20  # anomalous training videos per class (video-level labels only)
    n_val_per_class: int = 4  # anomalous validation videos per class (model selection)
    n_test_per_class: int = 10  # anomalous test videos per class
    n_train_normal: int = 60  # normal training videos (real datasets hold many normal videos)
    n_val_normal: int = 10  # normal validation videos
    n_test_normal: int = 30  # normal test videos
    snippets: tuple[int, int] = (8, 32)  # video length in snippets, inclusive range, drawn per video
    snippet_len: int = 16  # frames per snippet
    width: int = 160  # frame width in pixels (even: H.264 yuv420p)
    height: int = 120  # frame height in pixels (even)
    fps: int = 25  # frames per second written to the MP4
    anomaly_area: tuple[float, float] = (0.01, 0.06)  # fire and explosion: target mean box area / frame area, drawn log-uniformly
    agent_height: tuple[int, int] = (10, 24)  # camera zoom: pedestrian height in pixels, drawn log-uniformly for every video (agent anomalies' size)
    clutter: tuple[int, int] = (2, 6)  # moving things in view at once (normal agents + the anomaly's movers), inclusive range
    fight_knockdown: float = 0.0  # share of fights whose last 30-50 % has one fighter lying on the ground (a still-visible cue of a fight)
    traffic_stops: float = 0.5  # share of videos (of every class but road_accident) whose traffic halts once, for 48-200 frames
    trees: float = 0.6  # share of videos with a tree that sways and rustles in gusts (normal motion that is not an agent)
    noise_sigma: float = 3.0  # std of additive Gaussian sensor noise, in 8-bit grey levels
    flicker: float = 0.02  # amplitude of frame-to-frame random illumination gain (fraction)
    drift: float = 0.10  # amplitude of the slow sinusoidal illumination drift (fraction)
    layouts: list[str] = field(default_factory=lambda: list(LAYOUTS))  # camera layouts drawn from
    crf: int = 24  # H.264 constant rate factor (lower = better quality, bigger files); ~30 dB PSNR
    preset: str = "superfast"  # libx264 preset (speed/size trade-off; output is decodable either way)

    def __post_init__(self) -> None:
        unknown = [c for c in self.classes if c not in ANOMALY_CLASSES]
        if unknown:
            raise ValueError(f"classes: unknown anomaly class(es) {unknown}; known: {list(ANOMALY_CLASSES)}")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes: duplicates in {self.classes}")
        missing = [c for c in self.open_set_holdout if c not in self.classes]
        if missing:
            raise ValueError(f"open_set_holdout: {missing} not in classes {self.classes}")
        bad_layouts = [x for x in self.layouts if x not in LAYOUTS]
        if bad_layouts or not self.layouts:
            raise ValueError(f"layouts: expected a non-empty subset of {list(LAYOUTS)}, got {self.layouts}")
        for name in ("n_train_per_class", "n_val_per_class", "n_test_per_class", "n_train_normal",
                     "n_val_normal", "n_test_normal"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected >= 0, got {getattr(self, name)}")
        lo, hi = self.snippets
        if not 3 <= lo <= hi:
            raise ValueError(f"snippets: expected 3 <= min <= max (an anomalous video needs normal "
                             f"snippets around its anomaly), got {self.snippets}")
        if self.snippet_len < 1:
            raise ValueError(f"snippet_len: expected >= 1, got {self.snippet_len}")
        if self.width % 2 or self.height % 2 or self.width < 64 or self.height < 48:
            raise ValueError(f"width/height: expected even sizes >= 64x48 (yuv420p), got "
                             f"{self.width}x{self.height}")
        a_lo, a_hi = self.anomaly_area
        if not 0 < a_lo <= a_hi < 0.5:
            raise ValueError(f"anomaly_area: expected 0 < min <= max < 0.5, got {self.anomaly_area}")
        h_lo, h_hi = self.agent_height
        if not 4 <= h_lo <= h_hi <= self.height // 3:
            raise ValueError(f"agent_height: expected 4 <= min <= max <= height/3 = {self.height // 3}, "
                             f"got {self.agent_height}")
        c_lo, c_hi = self.clutter
        if not 0 <= c_lo <= c_hi:
            raise ValueError(f"clutter: expected 0 <= min <= max, got {self.clutter}")
        for name in ("traffic_stops", "trees", "fight_knockdown"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}: expected a share in [0, 1], got {getattr(self, name)}")
        if self.noise_sigma < 0 or not 0 <= self.flicker < 0.5 or not 0 <= self.drift < 0.5:
            raise ValueError("noise_sigma must be >= 0, flicker and drift in [0, 0.5)")
        if self.fps < 1:
            raise ValueError(f"fps: expected >= 1, got {self.fps}")

    @property
    def frame_area(self) -> int:
        return self.width * self.height

    def counts(self, split: str, cls: str) -> int:
        """How many videos of class ``cls`` (``"normal"`` or an anomaly class) ``split`` holds."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        if cls == NORMAL:
            return {"train": self.n_train_normal, "val": self.n_val_normal, "test": self.n_test_normal}[split]
        if cls not in self.classes:
            return 0
        if split != "test" and cls in self.open_set_holdout:
            return 0
        return {"train": self.n_train_per_class, "val": self.n_val_per_class,
                "test": self.n_test_per_class}[split]


@dataclass(frozen=True)
class VideoSpec:
    """One video of the dataset: who it is; its content follows from ``(cfg, id)`` alone."""

    id: str  # "<split>_<class>_<NNN>"
    split: str  # train | val | test
    cls: str  # "normal" or an anomaly class
    n_snippets: int  # length in snippets

    @property
    def label(self) -> int:
        return 0 if self.cls == NORMAL else 1

    def n_frames(self, cfg: SynthConfig) -> int:
        return self.n_snippets * cfg.snippet_len

    @property
    def rel_path(self) -> str:
        """Path relative to ``videos/`` (the UCF-Crime list style)."""
        return f"{self.cls}/{self.id}.mp4"


def video_id(split: str, cls: str, index: int) -> str:
    return f"{split}_{cls}_{index:03d}"


def video_seed(seed: int, key: str) -> np.random.SeedSequence:
    """The seed sequence of a video (or any named stream): SHA-256 of ``key`` mixed with ``seed``.

    Independent of Python's hash randomisation and of the order in which videos are generated."""
    digest = hashlib.sha256(key.encode()).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.SeedSequence([seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, *words])


def make_spec(cfg: SynthConfig, split: str, cls: str, index: int) -> VideoSpec:
    """The spec of video ``index`` of ``cls`` in ``split`` (its length is drawn from its own seed)."""
    vid = video_id(split, cls, index)
    length_rng = np.random.default_rng(video_seed(cfg.seed, vid + "/length"))
    lo, hi = cfg.snippets
    return VideoSpec(id=vid, split=split, cls=cls, n_snippets=int(length_rng.integers(lo, hi + 1)))


def video_specs(cfg: SynthConfig) -> list[VideoSpec]:
    """Every video of the dataset, split by split, normal first, then classes in ``cfg.classes`` order."""
    specs = []
    for split in SPLITS:
        for cls in (NORMAL, *cfg.classes):
            specs.extend(make_spec(cfg, split, cls, i) for i in range(cfg.counts(split, cls)))
    return specs


def replace(cfg: SynthConfig, **changes) -> SynthConfig:
    """A copy of ``cfg`` with ``changes`` (validated again)."""
    return dataclasses.replace(cfg, **changes)


def with_anomaly_area(cfg: SynthConfig, anomaly_area) -> SynthConfig:
    """``cfg`` with every anomaly scaled to a new area range (the anomaly-scale sweep): fire and
    explosion get ``anomaly_area`` directly; agent anomalies, whose size is the camera zoom, get the
    zoom range ``agent_height`` scaled by ``sqrt(g_new / g_old)`` (``g``: the geometric mean of the
    range), i.e. the same factor in area, clipped to ``4 .. height // 3`` pixels."""
    lo, hi = (float(a) for a in anomaly_area)
    old = (float(cfg.anomaly_area[0]) * float(cfg.anomaly_area[1])) ** 0.5
    factor = ((lo * hi) ** 0.5 / old) ** 0.5
    top = cfg.height // 3
    h_lo = int(min(top, max(4, round(cfg.agent_height[0] * factor))))
    h_hi = int(min(top, max(h_lo, round(cfg.agent_height[1] * factor))))
    return replace(cfg, anomaly_area=(lo, hi), agent_height=(h_lo, h_hi))


#: Modules of this package that do not change what a config renders (left out of :func:`generator_hash`).
_NOT_RENDERING = ("audit.py",)


def generator_hash() -> str:
    """A hash of the generator's source: every module of :mod:`stprompt.synth` but the audit.

    The same config renders another world when this code changes (an anomaly drawn differently,
    another caption rule), so it is part of :func:`world_hash`: videos on disk and tiny CLIPs
    pretrained by other code are made again instead of trusted. Any edit of these files counts,
    a comment too (safe, not minimal)."""
    from pathlib import Path

    from ..io import file_hash, stable_hash

    return stable_hash({p.name: file_hash(p) for p in sorted(Path(__file__).parent.glob("*.py"))
                        if p.name not in _NOT_RENDERING})


def world_hash(cfg: SynthConfig) -> str:
    """The name of the world ``cfg`` renders with this code: its config and :func:`generator_hash`
    (``meta.json``'s ``config_hash``; what :func:`stprompt.synth.generate` trusts files by)."""
    from ..config import config_hash, to_dict

    return config_hash({"config": to_dict(cfg), "generator": generator_hash()})
