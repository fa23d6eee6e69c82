"""Small file helpers shared by the whole library: repository-root paths, atomic writes, hashing.

Every file the library writes goes through :func:`atomic_write` (or one of its wrappers), so that an
interrupted run never leaves a half-written file behind: data is written to a temporary file in the
same folder and renamed over the target, which is atomic on POSIX file systems.

Paths: papermill runs a notebook's kernel in the caller's working directory and nbval in the
notebook's folder, so relative paths given to the library are resolved against the repository root
(:func:`repo_root`), never against the current directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

_PACKAGE_DIR = Path(__file__).resolve().parent
# mkstemp creates files readable by the owner only; finished files get the usual mode instead.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def repo_root() -> Path:
    """The repository root: the folder holding ``pyproject.toml`` above the package.

    ``STPROMPT_ROOT`` overrides it (useful for an installed, non-editable package). For a
    non-editable install without the variable, the current directory is used.
    """
    env = os.environ.get("STPROMPT_ROOT")
    if env:
        return Path(env).resolve()
    candidate = _PACKAGE_DIR.parent
    if (candidate / "pyproject.toml").is_file():
        return candidate
    return Path.cwd().resolve()


def resolve(path: str | os.PathLike) -> Path:
    """Resolve ``path`` against the repository root unless it is absolute."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (repo_root() / p)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file next to ``path``; on success rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for writers that want a file name (np.savez, PyAV,
    matplotlib); it is renamed over ``path`` when the block succeeds. The temporary name keeps the
    target's suffix so that writers choosing a format by extension behave."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _FILE_MODE)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_write(path, "w") as fh:
        fh.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented, key-sorted JSON."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, with an error that names the file when it is not valid JSON."""
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from exc


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays and paths appear in metrics and recipes; store them as plain JSON.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short SHA-256 of ``obj`` serialised as canonical JSON (sorted keys)."""
    blob = json.dumps(obj, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def file_hash(path: str | os.PathLike, length: int = 16) -> str:
    """A short SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the block: parallel ablation
    kernels that need the same data variant make it once, the others wait and then reuse it."""
    import fcntl

    path = resolve(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set the environment variables ``values`` for the ``with`` block, then restore each to what it
    was (unset if it was unset), also when the block raises. Child processes started inside inherit
    them (the thread counts of ablation kernels and feature-decoding workers)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
