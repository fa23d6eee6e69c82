"""Snippet features: frame features, window (patch) features and the motion prior.

One file per job (every name below is importable from ``stprompt.features``): :mod:`.recipe`
(:class:`FeatureConfig`, snippet and window geometry, the recipe), :mod:`.motion` (the motion prior
and its diagnostic), :mod:`.chunks` (one video: decode side and encoder side), :mod:`.files`
(feature files, memory maps, manifests), :mod:`.extract` (a dataset: decode workers, ranks),
:mod:`.command` (from notebook / profile parameters: ``01_data_prep``, ``stprompt extract``).

For each video and each 16-frame snippet ``t`` (PAPER, temporal stream 1–2):

- ``frame (T, D)``: the CLIP image feature of the snippet's middle frame (``frame_choice="mid"``,
  VadCLIP's convention) or the mean of the features of ``mean_frames`` evenly spaced frames
  (``"mean"``). With ``crop="tencrop"`` the file also holds ``frame_crops (10, T, D)`` (the four
  corners and the centre, and their mirror images — the ancestors' 10-crop) and ``frame`` is the crop
  named by ``test_crop`` (``"mean"`` = the re-normalised mean of the ten).
- ``patch (T, G, D)``: the paper encodes **each window of a grid as an image** with CLIP
  (``patch_mode="crops"``); ``"tokens"`` instead pools the projected dense ViT patch tokens of the
  whole frame over each window (cheaper; an ablation). Windows come from the middle frame.
- ``motion (T, G)``: the motion prior, per window the L2 norm of the raw-pixel difference (RGB in
  [0, 1]) between a frame and its neighbour (``motion_neighbour``: next, previous, or the mean of
  both), averaged over the frames of the snippet.

Snippets: ``T = ceil(n_frames / snippet_len)``; the last snippet holds the remaining 1–16 frames
(its "middle" is the middle of what it holds), so snippet scores repeated ×16 and cut to
``n_frames`` cover every frame (:func:`stprompt.metrics.expand_snippet_scores`).

Window grid: ``grid = (rows, cols)`` windows of ``window = (h, w)`` pixels. With ``stride=None``
the windows are spread evenly so the first touches the top/left edge and the last the
bottom/right edge; with a stride ``(sy, sx)`` they start at the top-left corner every stride
pixels and ``grid`` must equal the number that fit. The boxes, in pixels ``(x1, y1, x2, y2)``
with exclusive ``x2, y2``, are stored with the features.

Files: one ``<out_dir>/<video_id>.npz`` per video (uncompressed), features in fp16, plus
``recipe`` (JSON: the backbone, its weights id, every parameter above, the window boxes, the
library version and a hash of it all) and ``source_digest`` (:func:`source_digest`: the video's
size and the bytes at its two ends). Files are written atomically; :func:`extract_dataset` skips
files whose recipe hash matches, that load cleanly and whose video still has the digest they were
made from, and redoes stale or corrupt ones, so an interrupted extraction resumes and a replaced
video is re-extracted. :func:`load_features` reads a file into float32 arrays;
:func:`map_features` memory-maps it instead (:class:`MappedArray`: fp16 on disk, float32 only for
the rows read, pages shared by every process reading the file), which is how training reads them.

Pipeline. Extraction is split into a decode side, :func:`iter_chunks` (decode, keep the frames
the encoder needs, the streamed motion prior :class:`MotionPrior`), and an encoder side,
:func:`encode_chunk`, one chunk of ``chunk_snippets`` snippets at a time. :func:`extract_dataset`
runs the decode side in worker processes (:class:`DecodePool`, ``workers``) that feed this
process's encoder, or everything in one process (``workers=0``); the encoder sees the same
batches either way, so the files are the same bytes. Memory per rank does not grow with a
video's length: a worker holds one chunk's sampled frames (one frame per snippet for "mid") and
two frames' worth of the windows' rows and columns for the motion prior.

Ranks. Under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) each rank takes a :func:`shard` of each
split balanced by frames; after all ranks finish, rank 0 writes ``manifest_<split>.json``
(:func:`write_manifest`), which names any video left without a valid feature file.
"""

from __future__ import annotations

from .chunks import SnippetChunk, Timer, encode_chunk, extract_frames, iter_chunks, join_chunks
from .command import (check_from_params, clip_spec_from_params, config_from_params, extract_from_params,
                      feature_dir, wait_for_all_ranks)
from .extract import (DecodePool, PIPELINE_MIN_FRAMES, WORKER_NICE, StaleFeatureWarning, available_cores,
                      default_workers, extract_dataset, extraction_failures_message, shard)
from .files import (FeatureFileError, MappedArray, VideoFeatures, check_split, feature_path, file_status,
                    load_features, manifest_path, map_features, missing_features_message, rows_of,
                    save_features, source_digest, write_manifest)
from .motion import MotionPrior, motion_figure_samples, motion_prior, motion_topk_overlap, window_sums
from .recipe import (FeatureConfig, center_crop_box, make_recipe, sample_indices, snippet_bounds, ten_crops,
                     window_boxes)

__all__ = [
    "available_cores", "center_crop_box", "check_from_params", "check_split", "clip_spec_from_params",
    "config_from_params", "DecodePool", "default_workers", "encode_chunk", "extract_dataset",
    "extract_frames", "extract_from_params", "extraction_failures_message", "feature_dir",
    "feature_path", "FeatureConfig", "FeatureFileError", "file_status", "iter_chunks",
    "join_chunks", "load_features", "make_recipe", "manifest_path", "map_features", "MappedArray",
    "missing_features_message", "motion_figure_samples", "motion_prior", "motion_topk_overlap",
    "MotionPrior", "PIPELINE_MIN_FRAMES", "rows_of", "sample_indices", "save_features", "shard",
    "snippet_bounds", "SnippetChunk", "source_digest", "StaleFeatureWarning", "ten_crops", "Timer",
    "VideoFeatures", "wait_for_all_ranks", "window_boxes", "window_sums", "WORKER_NICE",
    "write_manifest",
]
