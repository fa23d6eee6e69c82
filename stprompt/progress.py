"""Progress of long loops with an ETA, on the console of ``stprompt reproduce``.

A notebook runs in a kernel whose output goes into the executed notebook, not to the console, and a
progress bar there would clutter every report. So the library reports progress to a *channel*: when
the environment variable :data:`ENV` names a file (the pipeline sets it for each step's kernel),
:func:`report` appends one line per update to it, and the pipeline tails that file while the step runs
and prints each line under the step's name (:func:`follow`). Without :data:`ENV` (JupyterLab, nbval,
plain scripts) nothing is written.

Lines read ``<what>: <done>/<total> (<pct>%), <elapsed> elapsed, ETA <remaining>``. The ETA is the
mean time per item so far times the items left. Updates of one loop are written at most every
:data:`MIN_INTERVAL` seconds, the first and the last always.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

ENV = "STPROMPT_PROGRESS"  # file the kernel appends progress lines to
MIN_INTERVAL = 15.0  # seconds between two written updates of one loop (a calm console)
T = TypeVar("T")

_started: dict[str, float] = {}
_last_written: dict[str, float] = {}


def format_seconds(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def progress_text(done: int, total: int | None, elapsed: float) -> str:
    """``done/total (pct%), elapsed, ETA remaining``; without ``total`` there is no ETA."""
    if not total:
        return f"{done} done, {format_seconds(elapsed)} elapsed"
    text = f"{done}/{total} ({100.0 * done / total:.0f}%), {format_seconds(elapsed)} elapsed"
    if 0 < done < total:
        text += f", ETA {format_seconds(elapsed / done * (total - done))}"
    return text


def progress_line(what: str, done: int, total: int | None, elapsed: float) -> str:
    """One progress line (see the module docstring)."""
    return f"{what}: {progress_text(done, total, elapsed)}"


def report(what: str, done: int, total: int | None = None) -> None:
    """Report that ``done`` of ``total`` items of the loop ``what`` are finished (``done=0`` starts
    its clock). Written to the channel only when :data:`ENV` is set; throttled per loop."""
    path = os.environ.get(ENV)
    if not path:
        return
    now = time.monotonic()
    if done == 0 or what not in _started:
        _started[what] = now
        _last_written.pop(what, None)
    last = done == total
    if not last and done and now - _last_written.get(what, -1e9) < MIN_INTERVAL:
        return
    _last_written[what] = now
    line = progress_line(what, done, total, now - _started[what])
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    except OSError:  # progress is a courtesy: never fail the computation over it
        pass


def track(items: Iterable[T], what: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` reporting progress after each one (``total`` defaults to ``len``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    report(what, 0, total)
    for i, item in enumerate(items, 1):
        yield item
        report(what, i, total)


class follow:
    """Context manager for the parent process: create an empty channel file, set :data:`ENV` for
    the kernels started inside the block, and pass every line written to it to ``echo`` (polled every
    ``poll`` seconds by a thread; the last lines are flushed on exit)."""

    def __init__(self, path: str | Path, echo: Callable[[str], None], poll: float = 0.5):
        self.path, self.echo, self.poll = Path(path), echo, poll
        self._stop = threading.Event()
        self._offset = 0

    def __enter__(self) -> "follow":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self._saved = os.environ.get(ENV)
        os.environ[ENV] = str(self.path)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _drain(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except OSError:
            return
        complete = chunk[:chunk.rfind(b"\n") + 1]  # a line being written waits for its newline
        self._offset += len(complete)
        for line in complete.decode("utf-8", errors="replace").splitlines():
            if line.strip():
                self.echo(line)

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self._drain()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._drain()
        if self._saved is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = self._saved
        self.path.unlink(missing_ok=True)
