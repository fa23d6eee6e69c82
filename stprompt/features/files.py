"""Feature files on disk: one ``<video_id>.npz`` per video (fp16 features, fp32 motion, the recipe
as JSON), written atomically, read into float32 (:func:`load_features`) or memory-mapped
(:func:`map_features`, :class:`MappedArray`); and the per-split manifests that name any video left
without a valid file (:func:`check_split`, :func:`write_manifest`).

Each file also records which video bytes it was computed from (:func:`source_digest`), so that a
video replaced after its features were extracted (a re-download, a regenerated SynthVAD world) is
found and re-extracted (:func:`file_status`) instead of trusted because the recipe still matches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import __version__
from ..io import atomic_path, resolve


def feature_path(out_dir: str | Path, video_id: str) -> Path:
    return resolve(out_dir) / f"{video_id}.npz"


#: Bytes read from each end of a video file for its :func:`source_digest` (64 KiB: 250 MB for the
#: 1,900 videos of UCF-Crime on every resume; the container header and index sit at the ends).
DIGEST_EDGE_BYTES = 1 << 16


def source_digest(path: str | Path) -> str | None:
    """A cheap identity of the video bytes a feature file is computed from; ``None`` when ``path``
    does not exist (features are kept after their videos are deleted, and trusted then).

    A video file: SHA-256 of its size and its first and last :data:`DIGEST_EDGE_BYTES` bytes (the
    container's index sits at one end and changes with any re-encoding; reading whole videos on every
    resume would cost minutes on UCF-Crime). A frame folder (ShanghaiTech's test frames): SHA-256 of
    its sorted file names and sizes. An edit that keeps the size and touches only the middle of a file
    goes unseen: the digest names a re-download or a regenerated video, it is no checksum."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        h.update(b"folder\0")
        for entry in sorted(path.iterdir(), key=lambda e: e.name):
            if entry.is_file():
                h.update(f"{entry.name}\0{entry.stat().st_size}\0".encode())
    elif path.is_file():
        size = path.stat().st_size
        h.update(f"file\0{size}\0".encode())
        with open(path, "rb") as fh:
            h.update(fh.read(DIGEST_EDGE_BYTES))
            if size > DIGEST_EDGE_BYTES:
                fh.seek(max(DIGEST_EDGE_BYTES, size - DIGEST_EDGE_BYTES))
                h.update(fh.read())
    else:
        return None
    return h.hexdigest()[:16]


def save_features(path: str | Path, arrays: dict[str, np.ndarray], recipe: dict[str, Any],
                  video_id: str, n_frames: int, source: str | None = None) -> Path:
    """Write one video's features atomically: features fp16, motion fp32, recipe as JSON (with
    ``source_digest``: ``source``, the :func:`source_digest` of the video they come from)."""
    meta = dict(recipe, video_id=video_id, n_frames=int(n_frames), library_version=__version__,
                window_boxes=np.asarray(arrays["boxes"]).tolist(), source_digest=source)
    payload = {k: np.asarray(v, dtype=np.float16) for k, v in arrays.items()
               if k in ("frame", "patch", "frame_crops")}
    payload["motion"] = np.asarray(arrays["motion"], dtype=np.float32)
    payload["recipe"] = np.array(json.dumps(meta, sort_keys=True))
    with atomic_path(path) as tmp:
        np.savez(tmp, **payload)
    return Path(path)


class FeatureFileError(ValueError):
    """A feature file is missing, corrupt, inconsistent or was made with another recipe."""


@dataclasses.dataclass
class VideoFeatures:
    video_id: str
    frame: np.ndarray  # (T, D) float32
    patch: np.ndarray | None  # (T, G, D) float32
    motion: np.ndarray  # (T, G) float32
    recipe: dict[str, Any]
    frame_crops: np.ndarray | None = None  # (10, T, D) with tencrop

    @property
    def n_snippets(self) -> int:
        return len(self.frame)


def _check_lengths(path: Path, recipe: dict, frame: Any, motion: Any, patch: Any) -> None:
    """One snippet per ``snippet_len`` frames in every array of a feature file (the recipe's
    ``n_frames``), else :class:`FeatureFileError` naming the file and the lengths."""
    T = len(frame)
    expected_T = math.ceil(recipe["n_frames"] / recipe["features"]["snippet_len"])
    if T != expected_T or len(motion) != T or (patch is not None and len(patch) != T):
        raise FeatureFileError(f"{path}: inconsistent lengths frame={T}, motion={len(motion)}, "
                               f"patch={None if patch is None else len(patch)}, expected {expected_T} "
                               f"snippets for {recipe['n_frames']} frames")


def load_features(path: str | Path, recipe_hash: str | None = None) -> VideoFeatures:
    """Load and check a feature file; raise :class:`FeatureFileError` naming it when it is corrupt,
    its arrays disagree in length, or (given ``recipe_hash``) it was made with another recipe."""
    path = Path(path)
    if not path.is_file():
        raise FeatureFileError(f"{path}: feature file not found (run `stprompt extract`)")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise FeatureFileError(f"{path}: corrupt feature file ({exc})") from exc
    missing = [k for k in ("frame", "motion", "recipe") if k not in data]
    if missing:
        raise FeatureFileError(f"{path}: missing arrays {missing}")
    recipe = json.loads(str(data["recipe"]))
    if recipe_hash is not None and recipe.get("recipe_hash") != recipe_hash:
        raise FeatureFileError(f"{path}: made with recipe {recipe.get('recipe_hash')}, expected "
                               f"{recipe_hash} (re-extract with the current parameters)")
    frame = data["frame"].astype(np.float32)
    motion = data["motion"].astype(np.float32)
    patch = data["patch"].astype(np.float32) if "patch" in data else None
    _check_lengths(path, recipe, frame, motion, patch)
    crops = data["frame_crops"].astype(np.float32) if "frame_crops" in data else None
    return VideoFeatures(recipe["video_id"], frame, patch, motion, recipe, crops)


def file_status(path: str | Path, recipe_hash: str, source: str | None = None) -> str:
    """Whether a feature file can be reused for a video whose bytes have digest ``source``
    (:func:`source_digest`): ``"valid"``; ``"unchecked"`` (valid by its recipe, but the video is gone
    or the file predates source digests, so nothing says it still matches the video: reused);
    ``"source_changed"`` (made from other bytes than those now at the video's path); ``"invalid"``
    (missing, corrupt, or another recipe)."""
    try:
        stored = load_features(path, recipe_hash).recipe.get("source_digest")
    except FeatureFileError:
        return "invalid"
    if source is None or stored is None:
        return "unchecked"
    return "valid" if stored == source else "source_changed"


class MappedArray:
    """One array of a feature file read through a memory map when it is used: nothing of it is
    held in memory in between, no file stays open, and processes that read the same file share
    its pages (the OS page cache). Rows come out as float32 (the file stores fp16 features).

    ``len``, ``shape`` and ``dtype`` (on disk) describe it; ``a[i]``/``a[i:j]`` and
    ``np.asarray(a)`` read float32 copies; :meth:`map` gives the read-only map itself (on-disk
    dtype, valid while referenced); :meth:`rows` and :meth:`index` give lazy sub-arrays.
    """

    __slots__ = ("path", "offset", "shape", "dtype")

    def __init__(self, path: str | Path, offset: int, shape: Sequence[int], dtype: Any):
        self.path, self.offset = Path(path), int(offset)
        self.shape, self.dtype = tuple(int(n) for n in shape), np.dtype(dtype)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"MappedArray({self.path.name}, shape={self.shape}, dtype={self.dtype})"

    def map(self) -> np.ndarray:
        if not self.shape[0] or 0 in self.shape:
            return np.zeros(self.shape, self.dtype)
        return np.memmap(self.path, self.dtype, mode="r", offset=self.offset, shape=self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.map()[key], dtype=np.float32)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.array(self.map(), dtype=dtype or np.float32)

    def rows(self, start: int, stop: int) -> "MappedArray":
        """Rows ``[start, stop)``, still on disk."""
        start, stop = max(0, int(start)), min(self.shape[0], int(stop))
        row = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        return MappedArray(self.path, self.offset + start * row, (max(0, stop - start), *self.shape[1:]),
                           self.dtype)

    def index(self, i: int) -> "MappedArray":
        """``a[i]`` (e.g. one crop of ``frame_crops``), still on disk."""
        return self.rows(i, i + 1).reshape(self.shape[1:])

    def reshape(self, shape: Sequence[int]) -> "MappedArray":
        if int(np.prod(shape)) != int(np.prod(self.shape)):
            raise ValueError(f"cannot reshape {self.shape} to {tuple(shape)}")
        return MappedArray(self.path, self.offset, shape, self.dtype)


def rows_of(a: Any, start: int, stop: int) -> Any:
    """Rows ``[start, stop)`` of an array or :class:`MappedArray` (lazy for the latter)."""
    return a.rows(start, stop) if isinstance(a, MappedArray) else a[start:stop]


def _npz_members(path: Path) -> dict[str, tuple[int, tuple[int, ...], np.dtype]]:
    """``{name: (data offset, shape, dtype)}`` of the uncompressed ``.npy`` members of an ``.npz``
    (``np.savez`` stores them uncompressed; each is a local zip header, then the ``.npy`` header,
    then the raw C-order array)."""
    import struct

    out = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            if info.compress_type != zipfile.ZIP_STORED:
                raise FeatureFileError(f"{path}: member {info.filename} is compressed; feature files are "
                                       f"written uncompressed (re-extract it)")
            fh.seek(info.header_offset)
            local = fh.read(30)
            if local[:4] != b"PK\x03\x04":
                raise FeatureFileError(f"{path}: corrupt zip header of {info.filename}")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            fh.seek(info.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(fh)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise FeatureFileError(f"{path}: {info.filename} has .npy format {version}, expected 1.0 or 2.0")
            shape, fortran, dtype = read_header(fh)
            if fortran or dtype.hasobject:
                raise FeatureFileError(f"{path}: {info.filename} is not a plain C-order array")
            out[info.filename[:-4]] = (fh.tell(), tuple(shape), dtype)
    return out


def map_features(path: str | Path, recipe_hash: str | None = None) -> VideoFeatures:
    """A feature file's arrays as :class:`MappedArray` s (memory-mapped on use, fp16 on disk,
    float32 when read) with the same checks as :func:`load_features` on the headers: the file
    exists and is a readable ``.npz``, has ``frame``/``motion``/``recipe``, the recipe hash matches
    (given ``recipe_hash``) and the lengths agree. Only the headers and the recipe are read, so
    checking a split of 1,900 videos takes seconds; data corruption inside an array (which the zip
    checksum catches) is :func:`load_features`' and the extractor's resume check's business."""
    path = Path(path)
    if not path.is_file():
        raise FeatureFileError(f"{path}: feature file not found (run `stprompt extract`)")
    try:
        members = _npz_members(path)
        with zipfile.ZipFile(path) as zf, zf.open("recipe.npy") as fh:
            recipe = json.loads(str(np.lib.format.read_array(fh, allow_pickle=False)))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        raise FeatureFileError(f"{path}: corrupt feature file ({exc})") from exc
    missing = [k for k in ("frame", "motion") if k not in members]
    if missing:
        raise FeatureFileError(f"{path}: missing arrays {missing}")
    if recipe_hash is not None and recipe.get("recipe_hash") != recipe_hash:
        raise FeatureFileError(f"{path}: made with recipe {recipe.get('recipe_hash')}, expected "
                               f"{recipe_hash} (re-extract with the current parameters)")
    arrays = {k: MappedArray(path, *v) for k, v in members.items() if k != "recipe"}
    size = path.stat().st_size
    for k, a in arrays.items():
        if a.offset + a.dtype.itemsize * int(np.prod(a.shape)) > size:
            raise FeatureFileError(f"{path}: corrupt feature file (array {k} runs past the end)")
    frame, motion, patch = arrays["frame"], arrays["motion"], arrays.get("patch")
    _check_lengths(path, recipe, frame, motion, patch)
    return VideoFeatures(recipe["video_id"], frame, patch, motion, recipe, arrays.get("frame_crops"))


def manifest_path(out_dir: str | Path, split: str) -> Path:
    return resolve(out_dir) / f"manifest_{split}.json"


def check_split(records: Sequence[Any], out_dir: str | Path, recipe_hash: str | None = None
                ) -> dict[str, Any]:
    """Which videos of a split have a valid feature file in ``out_dir`` (:func:`map_features`:
    exists, readable, recipe, lengths; and the number of snippets matches the record's frames).
    Returns ``{"snippets": {id: T}, "problems": {id: reason}}``."""
    from ..datasets.records import DatasetError, check_feature_length

    good, problems = {}, {}
    for rec in records:
        try:
            feats = map_features(feature_path(out_dir, rec.id), recipe_hash)
            check_feature_length(rec, feats.n_snippets)
            good[rec.id] = feats.n_snippets
        except (FeatureFileError, DatasetError) as exc:
            problems[rec.id] = str(exc)
    return {"snippets": good, "problems": problems}


def missing_features_message(problems: dict[str, str], n_videos: int, what: str, limit: int = 20) -> str:
    lines = [f"  {vid}: {why}" for vid, why in list(problems.items())[:limit]]
    more = [f"  ... and {len(problems) - limit} more"] if len(problems) > limit else []
    return (f"{len(problems)} of {n_videos} videos of {what} have no valid feature file (run "
            f"`stprompt extract` for them):\n" + "\n".join(lines + more))


def write_manifest(records: Sequence[Any], out_dir: str | Path, split: str, recipe_hash: str) -> Path:
    """After every rank has finished a split: check that each of its videos has a valid feature
    file (:func:`check_split`) and write ``<out_dir>/manifest_<split>.json`` (the recipe hash, the
    snippets of each video, the problems). Raises :class:`FeatureFileError` naming every video
    without a valid file (the manifest is written first, listing them)."""
    from ..io import write_json

    result = check_split(records, out_dir, recipe_hash)
    path = manifest_path(out_dir, split)
    write_json(path, {"split": split, "recipe_hash": recipe_hash, "videos": len(records),
                      "complete": not result["problems"], "snippets": result["snippets"],
                      "problems": result["problems"]})
    if result["problems"]:
        raise FeatureFileError(missing_features_message(result["problems"], len(records),
                                                        f"split '{split}' ({path})"))
    return path
