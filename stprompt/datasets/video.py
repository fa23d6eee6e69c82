"""Probing and decoding videos with PyAV (FFmpeg), and frame folders with Pillow.

A *video* is either a container file FFmpeg can read (``.mp4``, ``.avi``, ``.mkv``, ...) or a
*frame folder*: a directory of ``.jpg``/``.png``/``.bmp`` images whose sorted names give the frame
order (the ShanghaiTech test set ships as frames). Every failure raises :class:`VideoReadError`
naming the file: missing, not a video, no video stream, truncated or corrupt.

Frames are decoded from the start of the stream and counted, never located by timestamp seeking,
so frame ``i`` here is the ``i``-th decoded frame, the same index the annotations use.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

from .records import DatasetError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
FRAME_FOLDER_FPS = 25.0  # frame folders carry no rate; readers may pass the dataset's own


class VideoReadError(DatasetError):
    """A video file or frame folder is missing, unreadable, truncated or corrupt."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    n_frames: int
    fps: float
    width: int
    height: int


def is_frame_folder(path: str | Path) -> bool:
    return Path(path).is_dir()


def _frame_order(path: Path) -> tuple:
    # by the numbers in the name, so "2.jpg" precedes "10.jpg" whatever the zero padding
    # (ShanghaiTech folders hold 000.jpg..., other copies 000001.jpg: do not assume a width)
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.stem)), path.name


def frame_files(folder: str | Path) -> list[Path]:
    """The image files of a frame folder, in frame order (sorted by the numbers in their names)."""
    folder = Path(folder)
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_frame_order)
    if not files:
        raise VideoReadError(f"{folder}: frame folder holds no {'/'.join(IMAGE_SUFFIXES)} images")
    return files


def find_video(folder: str | Path, stem: str) -> Path | None:
    """``folder/stem.<ext>`` for the first known video suffix that exists, else the frame folder
    ``folder/stem/``, else ``None``."""
    folder = Path(folder)
    for suffix in VIDEO_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    candidate = folder / stem
    return candidate if candidate.is_dir() else None


def _open(path: Path):
    if not path.exists():
        raise VideoReadError(f"{path}: video file not found")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoReadError(f"{path}: cannot open as a video ({exc}); the file may be "
                             f"truncated or corrupt") from exc
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"{path}: has no video stream")
    return container


def probe_video(path: str | Path, exact: bool = False,
                folder_fps: float = FRAME_FOLDER_FPS) -> VideoInfo:
    """Frame count, frame rate and size of a video file or frame folder.

    The count comes from the container header; when the header has none (some AVI files), or
    with ``exact=True``, packets are demuxed and counted (no decoding), and with ``exact=True`` a
    header that promises more frames than the file holds (a truncated download) is an error.
    """
    path = Path(path)
    if path.is_dir():
        files = frame_files(path)
        try:
            with Image.open(files[0]) as im:
                width, height = im.size
        except OSError as exc:
            raise VideoReadError(f"{files[0]}: cannot read image ({exc})") from exc
        return VideoInfo(len(files), float(folder_fps), width, height)
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        header = int(stream.frames or 0)
        n = header
        if exact or header <= 0:
            try:
                n = sum(1 for packet in container.demux(stream) if packet.size > 0)
            except av.error.FFmpegError as exc:
                raise VideoReadError(f"{path}: corrupt video stream ({exc})") from exc
            if exact and header > 0 and n < header:
                raise VideoReadError(f"{path}: header announces {header} frames but the file "
                                     f"holds {n}; the file is truncated")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        width, height = stream.codec_context.width, stream.codec_context.height
    if n <= 0:
        raise VideoReadError(f"{path}: video has no frames")
    return VideoInfo(n, fps, int(width), int(height))


def iter_frames(path: str | Path, start: int = 0, stop: int | None = None, expect_end: bool = False,
                threads: int | None = None) -> Iterator[np.ndarray]:
    """Yield RGB ``(H, W, 3)`` uint8 frames ``start <= i < stop`` (``stop=None``: to the end),
    streaming: one decoded frame at a time, whatever the video's length.

    A ``stop`` past the last frame, or a stream that breaks or ends before the frame count of
    its header, raises :class:`VideoReadError` naming the file and the frame reached.
    ``expect_end``: ``stop`` is the video's length as its record counts it; a file that holds more
    frames gives a :class:`VideoLengthWarning` naming it (the frames past ``stop`` are not read).
    ``threads``: FFmpeg decoding threads (None: FFmpeg's choice, one per core).
    """
    path = Path(path)
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"{path}: invalid frame range [{start}, {stop})")
    if path.is_dir():
        files = frame_files(path)
        if stop is not None and stop > len(files):
            raise VideoReadError(f"{path}: asked for frames [{start}, {stop}) but the frame "
                                 f"folder holds {len(files)}")
        if expect_end and stop is not None and len(files) > stop:
            _warn_longer(path, stop, f"{len(files)} images")
        for f in files[start:stop]:
            try:
                with Image.open(f) as im:
                    yield np.asarray(im.convert("RGB"))
            except OSError as exc:
                raise VideoReadError(f"{f}: cannot read image ({exc})") from exc
        return
    container = _open(path)
    index = 0
    # One reformatter for the whole stream: frame.to_ndarray(format="rgb24") builds a new
    # colour-conversion context per frame, which costs ~3x the decoding itself at SynthVAD sizes.
    rgb = VideoReformatter()
    with container:
        stream = container.streams.video[0]
        header = int(stream.frames or 0)
        stream.thread_type = "AUTO"  # FFmpeg frame/slice threads: same frames, same order
        if threads:
            stream.codec_context.thread_count = int(threads)
        try:
            for frame in container.decode(stream):
                if stop is not None and index >= stop:
                    if expect_end:  # frame `stop` exists: the file is longer than its record says
                        _warn_longer(path, stop, f"at least {stop + 1} frames")
                    break
                if index >= start:
                    yield rgb.reformat(frame, format="rgb24").to_ndarray()
                index += 1
        except av.error.FFmpegError as exc:
            raise VideoReadError(f"{path}: decoding failed at frame {index} ({exc}); the file "
                                 f"may be truncated or corrupt") from exc
    if stop is not None and index < stop:
        raise VideoReadError(f"{path}: asked for frames [{start}, {stop}) but only {index} frames "
                             f"could be decoded")
    if stop is None and index < header:
        # records take their length from the header; a shorter decode would misalign labels
        raise VideoReadError(f"{path}: header announces {header} frames but only {index} could be "
                             f"decoded; the file is truncated or corrupt")
    if index == 0:
        raise VideoReadError(f"{path}: no frame could be decoded")


class VideoLengthWarning(UserWarning):
    """A video holds more frames than its record counts (the features cover the counted ones)."""


def _warn_longer(path: Path, counted: int, holds: str) -> None:
    import warnings

    warnings.warn(f"{path}: holds {holds}, more than the {counted} its record counts; only the first "
                  f"{counted} are used (check the dataset's frame counts)", VideoLengthWarning, stacklevel=3)


def read_frames(path: str | Path, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Decode frames ``start <= i < stop`` as one ``(T, H, W, 3)`` uint8 RGB array (see
    :func:`iter_frames`; prefer it for long videos, which do not fit in memory)."""
    frames = list(iter_frames(path, start, stop))
    if not frames:
        raise VideoReadError(f"{path}: no frames in [{start}, {stop})")
    return np.stack(frames)


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: float, crf: int = 24,
                preset: str = "superfast") -> Path:
    """Encode RGB uint8 frames (an array ``(T, H, W, 3)`` or any iterable of ``(H, W, 3)``, so long
    videos can stream) as H.264 yuv420p MP4 at ``path``, atomically. Width and height must be
    even (yuv420p). One encoder thread and no macroblock-tree rate control: the bytes then depend
    only on the frames (with mbtree, identical frames gave different bitstreams depending on what
    the process had encoded before; libx264 core 165)."""
    from fractions import Fraction

    from ..io import atomic_path

    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    H, W = first.shape[:2]
    if H % 2 or W % 2:
        raise ValueError(f"{path}: frame size {W}x{H} must be even for yuv420p")
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset, "threads": "1",
                              "x264-params": "mbtree=0"}
            for frame in itertools.chain([first], it):
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame),
                                                                       format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return Path(path)
