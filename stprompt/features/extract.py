"""Extracting a dataset: decode workers (:class:`DecodePool`, spawned processes) feeding this
process's encoder, resumable per video (:func:`extract_dataset`), and the split of a dataset between
``torchrun`` ranks (:func:`shard`, balanced by frames).
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..io import environment
from .chunks import SnippetChunk, Timer, encode_chunk, extract_frames, iter_chunks, join_chunks
from .files import feature_path, file_status, save_features, source_digest
from .recipe import FeatureConfig, make_recipe


class StaleFeatureWarning(UserWarning):
    """Feature files were made from other video bytes than those now at the videos' paths."""


# --------------------------------------------------------------------------------------------
# The pipeline: decode workers feeding the encoder
# --------------------------------------------------------------------------------------------

def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


#: With the encoder on the CPU and fewer cores than this per rank, extraction runs in one process:
#: the encoder needs every core and a decode worker only takes them away. Measured on 2 cores
#: (tiny CLIP, 3x4 windows, ``benchmarks/results/bench_extract_pipeline.json``): one worker gave
#: 0.92x (160x120) and 0.85x (320x240) of the single-process speed.
CPU_PIPELINE_MIN_CORES = 4


def default_workers(device: str = "cuda") -> int:
    """Decode workers per rank: the rank's share of the cores (``LOCAL_WORLD_SIZE`` ranks per
    machine under torchrun) less one core for the encoding process, and at least one; 0 when the
    encoder runs on the CPU (``device``) with fewer than :data:`CPU_PIPELINE_MIN_CORES` cores per
    rank."""
    per_rank = available_cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    if str(device).startswith("cpu") and per_rank < CPU_PIPELINE_MIN_CORES:
        return 0
    return max(1, per_rank - 1)


#: Below this many frames to decode, ``workers=None`` extracts in one process (starting workers
#: costs about a second, as much as decoding ~3,000 SynthVAD frames).
PIPELINE_MIN_FRAMES = 5000

#: Priority offset of decode workers (``os.nice``): the encoder process keeps the cores it uses.
WORKER_NICE = 10

_WORKER_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _decode_worker(cfg: FeatureConfig, jobs: Any, conn: Any, threads: int | None, nice: int = 0) -> None:
    """Worker process: take ``(key, path, n_frames)`` jobs until ``None``; stream each video's
    chunks (:func:`iter_chunks`) to the encoder through ``conn``. Messages: ``("start", key)``,
    ``("chunk", key, meta)`` followed by the frames' bytes, ``("warning", key, text)``,
    ``("done", key)``, ``("error", key, text)``."""
    import warnings

    from ..datasets.video import iter_frames

    if nice:
        os.nice(nice)
    while True:
        job = jobs.get()
        if job is None:
            break
        key, path, n_frames = job
        conn.send(("start", key, None))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frames = iter_frames(path, 0, n_frames, expect_end=True, threads=threads)
                for chunk in iter_chunks(frames, n_frames, cfg):
                    meta = {"start": chunk.start, "shape": chunk.frames.shape, "samples": chunk.samples,
                            "mids": chunk.mids, "motion": chunk.motion, "boxes": chunk.boxes,
                            "seconds": chunk.seconds}
                    conn.send(("chunk", key, meta))
                    conn.send_bytes(np.ascontiguousarray(chunk.frames).reshape(-1))  # a 1-D buffer: its length is its size
                    del chunk
            for w in caught:
                conn.send(("warning", key, str(w.message)))
            conn.send(("done", key, None))
        except Exception as exc:  # the encoder reports it, naming the video; next video
            conn.send(("error", key, f"{type(exc).__name__}: {exc}"))
    conn.close()


class DecodePool:
    """Worker processes that decode videos and compute their motion prior (the decode side,
    :func:`iter_chunks`) while this process encodes (:func:`encode_chunk`).

    Workers take whole videos from one queue, longest first when the caller orders them so, and
    send each chunk as soon as it is complete through their own pipe. A pipe holds less than a
    chunk, so a worker blocks until the encoder has read its previous chunk: each worker is at
    most one chunk ahead, and the frames in flight are bounded by two chunks per worker, whatever
    the videos' lengths. Workers are started with ``spawn`` (no state shared with this process, no
    torch imported), use one FFmpeg thread per core of their share (``threads``), and run at a
    lower priority (``nice``, default :data:`WORKER_NICE`): where the encoder computes on the
    same cores (a CPU encoder), the workers take the time it leaves idle instead of slowing it.

    Use as a context manager; :meth:`run` yields ``(kind, key, payload)`` events:
    ``("chunk", key, SnippetChunk)``, ``("warning", key, text)``, ``("done", key, None)``,
    ``("error", key, text)``. ``seconds["wait"]`` is the time the caller spent waiting for them.
    """

    def __init__(self, cfg: FeatureConfig, workers: int, threads: int | None = None, nice: int | None = None):
        if workers < 1:
            raise ValueError(f"DecodePool needs at least one worker, got {workers}")
        self.cfg, self.n = cfg, int(workers)
        self.threads = threads or max(1, available_cores() // self.n)
        self.nice = WORKER_NICE if nice is None else int(nice)
        self.seconds = {"wait": 0.0}
        self._procs: list[Any] = []
        self._conns: list[Any] = []

    def __enter__(self) -> "DecodePool":
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._jobs = ctx.Queue()
        with environment({k: "1" for k in _WORKER_ENV}):  # numpy in a worker: one thread
            for _ in range(self.n):
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_decode_worker, args=(self.cfg, self._jobs, send, self.threads,
                                                                self.nice), daemon=True)
                proc.start()
                send.close()
                self._procs.append(proc)
                self._conns.append(recv)
        return self

    def __exit__(self, *exc: Any) -> None:
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=10)
        for conn in self._conns:
            conn.close()
        self._jobs.close()

    def run(self, jobs: Sequence[tuple[Any, str, int]]) -> Iterator[tuple[str, Any, Any]]:
        """Decode ``jobs`` (``(key, path, n_frames)``) and yield their events (class docstring)."""
        from multiprocessing.connection import wait

        for key, path, n_frames in jobs:
            self._jobs.put((key, str(path), int(n_frames)))
        for _ in self._procs:
            self._jobs.put(None)
        current: dict[Any, Any] = {}  # connection -> the video its worker is on
        open_conns = list(self._conns)
        remaining = len(jobs)
        while remaining:
            if not open_conns:
                raise RuntimeError(f"every decode worker exited with {remaining} video(s) left "
                                   f"(exit codes {[p.exitcode for p in self._procs]})")
            t = time.perf_counter()
            ready = wait(open_conns, timeout=5.0)
            if not ready:
                dead = [i for i, p in enumerate(self._procs) if not p.is_alive() and self._conns[i] in open_conns]
                if dead:
                    lost = [current.get(self._conns[i]) for i in dead]
                    raise RuntimeError(f"decode worker(s) {dead} died (exit codes "
                                       f"{[self._procs[i].exitcode for i in dead]}) while on {lost}")
            for conn in ready:
                try:
                    kind, key, payload = conn.recv()
                except EOFError:
                    open_conns.remove(conn)
                    if current.get(conn) is not None:
                        raise RuntimeError(f"a decode worker died while on video {current[conn]!r}") from None
                    continue
                if kind == "chunk":
                    frames = np.empty(payload["shape"], np.uint8)
                    conn.recv_bytes_into(frames.reshape(-1))  # straight into a writable array
                    payload = SnippetChunk(payload["start"], frames, payload["samples"], payload["mids"],
                                           payload["motion"], payload["boxes"], payload["seconds"])
                self.seconds["wait"] += time.perf_counter() - t
                if kind == "start":
                    current[conn] = key
                    t = time.perf_counter()
                    continue
                if kind in ("done", "error"):
                    current[conn] = None
                    remaining -= 1
                yield kind, key, payload
                t = time.perf_counter()


def shard(items: Sequence[Any], rank: int | None = None, world: int | None = None) -> list[Any]:
    """This rank's share of ``items`` (``RANK``/``WORLD_SIZE`` by default), balanced by frames:
    items (weighted by their ``n_frames``, 1 without one) go longest first to the rank with the
    fewest frames so far, ties to the lowest rank (LPT scheduling: the largest share is at most
    4/3 of the best possible); each share keeps the order of ``items``. Every rank computes the
    same assignment from the same list; with equal weights it is ``items[rank::world]``."""
    import heapq

    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world = int(os.environ.get("WORLD_SIZE", 1)) if world is None else world
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is outside world size {world}")
    items = list(items)
    weights = [int(getattr(it, "n_frames", 1)) for it in items]
    loads = [(0, r) for r in range(world)]
    owner = [0] * len(items)
    for i in sorted(range(len(items)), key=lambda i: (-weights[i], i)):
        load, r = heapq.heappop(loads)
        owner[i] = r
        heapq.heappush(loads, (load + weights[i], r))
    return [it for it, r in zip(items, owner) if r == rank]


_FEATURE_ARRAYS = ("frame", "patch", "frame_crops")


def extract_dataset(records: Sequence[Any], out_dir: str | Path, model: Any, cfg: FeatureConfig,
                    backbone: dict[str, Any], device: str = "cpu", progress: bool = True,
                    rank: int | None = None, world: int | None = None, workers: int | None = None,
                    raise_failures: bool = True) -> dict[str, Any]:
    """Extract features for ``records`` (objects with ``id``, ``path``, ``n_frames``) into
    ``out_dir``, skipping valid files of the same recipe and redoing stale or corrupt ones; under
    torchrun only this rank's :func:`shard`. A file made from other bytes than the video now at
    its path (:func:`~stprompt.features.files.source_digest`: a re-downloaded or regenerated video)
    is stale too: it is redone, and a :class:`StaleFeatureWarning` names those videos. A file whose
    video is gone, or that predates source digests, is kept on its recipe alone (counted as
    ``source_unchecked``).

    ``workers``: decode processes feeding this process's encoder (:class:`DecodePool`); 0:
    decoding, motion prior and encoding in this process, one video after the other; None:
    :func:`default_workers` for ``device`` when the videos to extract hold at least
    :data:`PIPELINE_MIN_FRAMES` frames, else 0. The files are byte-identical either way (the encoder sees the same batches).

    A video that cannot be decoded (missing, corrupt, shorter than its record says) is skipped and
    the others are written; then :class:`~stprompt.datasets.video.VideoReadError` names every
    failed video and why (``raise_failures=False``: they are returned under ``"failed"``). A video
    longer than its record gives a warning naming it. Returns counts and the time per stage."""
    from tqdm.auto import tqdm

    from ..datasets.video import VideoLengthWarning, VideoReadError, iter_frames
    from ..progress import report as report_progress

    recipe = make_recipe(cfg, backbone)
    timer = Timer()
    todo, skipped, digests = [], 0, {}
    changed: list[str] = []
    unchecked = 0
    for rec in shard(records, rank, world):
        digests[rec.id] = source_digest(rec.path)
        status = file_status(feature_path(out_dir, rec.id), recipe["recipe_hash"], digests[rec.id])
        if status in ("valid", "unchecked"):
            skipped += 1
            unchecked += status == "unchecked"
        else:
            todo.append(rec)
            if status == "source_changed":
                changed.append(rec.id)
    if changed:
        warnings.warn(StaleFeatureWarning(
            f"{len(changed)} video(s) changed since their features in {out_dir} were extracted (another "
            f"size or other bytes at either end): {', '.join(changed[:10])}"
            f"{f' and {len(changed) - 10} more' if len(changed) > 10 else ''}; re-extracting them"), stacklevel=2)
    if workers is None:  # starting workers (~1 s) pays off only for more than a few thousand frames
        workers = default_workers(device) if sum(r.n_frames for r in todo) >= PIPELINE_MIN_FRAMES else 0
    workers = min(int(workers), len(todo))
    done = snippets = 0
    failed: dict[str, str] = {}
    warned: list[str] = []
    bar = tqdm(total=len(todo), desc="features", unit="video", disable=not progress)

    def save(rec: Any, arrays: dict[str, np.ndarray]) -> None:
        nonlocal done, snippets
        save_features(feature_path(out_dir, rec.id), arrays, recipe, rec.id, rec.n_frames,
                      source=digests[rec.id])
        done += 1
        snippets += len(arrays["frame"])
        bar.update(1)
        report_progress(f"features of {Path(out_dir).name}, videos", done + len(failed), len(todo))

    start = time.perf_counter()
    if workers <= 0:
        for rec in todo:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", VideoLengthWarning)
                    arrays = extract_frames(iter_frames(rec.path, 0, rec.n_frames, expect_end=True),
                                            rec.n_frames, model, cfg, device=device, timer=timer)
                for w in caught:
                    warned.append(str(w.message))
                    warnings.warn(w.message, w.category, stacklevel=2)
            except (VideoReadError, ValueError) as exc:
                failed[rec.id] = str(exc)
                bar.update(1)
                continue
            save(rec, arrays)
    else:
        parts: dict[int, list[dict[str, np.ndarray]]] = {}
        boxes: dict[int, np.ndarray] = {}
        order = sorted(range(len(todo)), key=lambda i: -todo[i].n_frames)  # long videos first
        with DecodePool(cfg, workers) as pool:
            for kind, key, payload in pool.run([(i, todo[i].path, todo[i].n_frames) for i in order]):
                rec = todo[key]
                if kind == "chunk":
                    timer.merge(payload.seconds)
                    part = encode_chunk(model, payload, cfg, device, timer)
                    # kept as stored (fp16: the same bytes save_features writes) until the video is done
                    parts.setdefault(key, []).append({k: (v.astype(np.float16) if k in _FEATURE_ARRAYS else v)
                                                      for k, v in part.items()})
                    boxes[key] = payload.boxes
                elif kind == "done":
                    save(rec, join_chunks(parts.pop(key), boxes.pop(key), np.float16))
                elif kind == "error":
                    parts.pop(key, None)
                    failed[rec.id] = payload
                    bar.update(1)
                elif kind == "warning":
                    warned.append(payload)
                    warnings.warn(payload, VideoLengthWarning, stacklevel=2)
            timer.merge(pool.seconds)
    bar.close()
    summary = {"extracted": done, "skipped": skipped, "snippets": snippets, "workers": max(workers, 0),
               "source_changed": changed, "source_unchecked": unchecked,
               "frames": int(sum(r.n_frames for r in todo)),
               "wall_seconds": round(time.perf_counter() - start, 3),
               "seconds": {k: round(v, 3) for k, v in timer.seconds.items()},
               "recipe_hash": recipe["recipe_hash"], "failed": failed, "warnings": warned}
    if failed and raise_failures:
        raise VideoReadError(extraction_failures_message(failed, records, done))
    return summary


def extraction_failures_message(failed: dict[str, str], records: Sequence[Any], written: int) -> str:
    """One message naming every video that could not be extracted, and why."""
    paths = {r.id: str(r.path) for r in records}
    lines = [f"  {msg}" if paths.get(vid, vid) in msg else f"  {paths.get(vid, vid)}: {msg}"
             for vid, msg in failed.items()]
    return (f"{len(failed)} video(s) could not be extracted ({written} others were written; rerun to "
            f"retry after fixing them):\n" + "\n".join(lines))
