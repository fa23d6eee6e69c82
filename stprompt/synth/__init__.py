"""SynthVAD: a procedural surveillance world with local, temporally bounded anomalies and exact
ground truth (DESIGN.md §2). Deterministic from a seed.

- :class:`SynthConfig`, :func:`video_specs`, :func:`make_spec` — what a dataset holds
- :func:`simulate`, :func:`render_frames`, :func:`ground_truth`, :func:`render_video` — one video in memory;
  :func:`sample_frames` — a few frames per class for :func:`stprompt.reports.viz.sample_frame_grid`
- :func:`generate` — write the on-disk layout (documented in :mod:`stprompt.datasets.synthvad`): MP4 videos, split lists,
  annotations in the real datasets' formats
- :func:`caption_dataset` — captioned crops and frames for pretraining the tiny CLIP
"""

from .config import (ANOMALY_CLASSES, LAYOUTS, NORMAL, OBJECT_CLASSES, SPLITS, SynthConfig, VideoSpec,
                     make_spec, video_specs)
from .captions import caption_dataset
from .render import (GroundTruth, Plan, ground_truth, render_frames, render_video, sample_frames,
                     simulate)
from .writer import generate, is_complete

__all__ = ["ANOMALY_CLASSES", "LAYOUTS", "NORMAL", "OBJECT_CLASSES", "SPLITS", "SynthConfig",
           "VideoSpec", "make_spec", "video_specs", "GroundTruth", "Plan", "ground_truth",
           "render_frames", "render_video", "sample_frames", "simulate", "generate", "is_complete",
           "caption_dataset"]
