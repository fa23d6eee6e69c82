"""A fork server for the notebook kernels of an ablation grid: kernels start warm.

Every grid point runs its notebook in a fresh Jupyter kernel, and before it computes anything that
kernel starts Python, imports ipykernel, numpy, torch, open_clip and the library: about 3-5 s of
each point (``benchmarks/bench_points.py``), the same work 111 times. Here one server process
imports all of that once and **forks** a kernel for each point instead:

- :func:`fork_server` (a context manager, used by :func:`stprompt.run.ablate.run_grid`) starts
  ``python -m stprompt.run.forkserver SOCKET MODULE...`` in the grid's environment (its thread
  counts) and, while it runs, makes the suite's kernel manager
  (:func:`stprompt.run.kernels.kernel_manager_class`) launch every kernel through
  ``stprompt/run/forkclient.py``;
- the server imports IPython and the modules named (those the notebook imports), then
  serves: for each client it checks the request (:func:`refusal`), forks, and the child becomes
  the kernel (``python -m ipykernel_launcher -f <connection file>``, as jupyter_client asked) with
  the client's working folder, environment and standard streams; the server reports the kernel's
  exit status to its client when it ends, and kills a kernel whose client went away.

A forked kernel is the kernel a fresh process would be, less the import time: the same modules
imported the same way under the same environment (a request whose environment differs, other than
jupyter_client's own ``JPY_*`` variables, is refused), ``random`` and numpy's global generator
reseeded from the OS as in a new process, and nothing computed before the fork (the server only
imports; it runs no torch operation, so no OpenMP pool exists to be lost in the child). A point
seeds everything it draws (``stprompt.train.seed_everything``), so its numbers are the same as in a
fresh kernel; a test compares both. When the server is not ready yet, stopped, or refuses, the
client starts the kernel the usual way: the server can only save time, never change what runs.

``STPROMPT_FORK_SERVER=0`` turns it off; it is off where ``os.fork`` or Unix sockets do not exist.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Iterator, Sequence

#: The client script jupyter_client launches in place of the kernel command.
CLIENT = Path(__file__).resolve().parent / "forkclient.py"
#: Environment variables a kernel's environment may differ in from the server's: those
#: jupyter_client sets per kernel (``JPY_PARENT_PID``, ``JPY_SESSION_NAME``, ...).
PER_KERNEL_ENV = ("JPY_",)
#: Modules never imported before the fork: they read the environment at import time, and the
#: kernel sets or receives it only when it starts: matplotlib reads ``MPLBACKEND`` (ipykernel
#: sets the inline backend there) and ``ipykernel.kernelapp`` reads ``JPY_PARENT_PID`` (set by
#: jupyter_client per kernel). A server whose preloads pulled one of them in serves nothing.
NOT_PRELOADED = ("matplotlib", "ipykernel.kernelapp")
#: Heavy modules the library imports inside its functions (so a notebook's import lines do not
#: name them): preloaded as well.
LAZY_IMPORTS = ("open_clip", "sklearn.metrics")


def enabled() -> bool:
    """Whether kernels may be forked here (``STPROMPT_FORK_SERVER=0`` turns it off)."""
    return (hasattr(os, "fork") and hasattr(socket, "AF_UNIX") and hasattr(socket, "send_fds")
            and os.environ.get("STPROMPT_FORK_SERVER", "1") != "0")


def refusal(request: dict, env: dict | None = None, executable: str = sys.executable) -> str | None:
    """Why the server will not fork a kernel for ``request`` (None when it will): the command must
    be ``<this python> -m <module> ...`` and the environment the server's own, but for
    :data:`PER_KERNEL_ENV`."""
    env = dict(os.environ) if env is None else env
    argv = request.get("argv") or []
    if len(argv) < 3 or argv[1] != "-m":
        return f"not a 'python -m module' command: {argv[:3]}"
    if os.path.realpath(argv[0]) != os.path.realpath(executable):
        return f"another interpreter: {argv[0]} (the server runs {executable})"

    def own(e: dict) -> dict:
        return {k: v for k, v in e.items() if not k.startswith(PER_KERNEL_ENV)}

    theirs, mine = own(request.get("env") or {}), own(env)
    differ = sorted(k for k in theirs.keys() | mine.keys() if theirs.get(k) != mine.get(k))
    if differ:
        return "the environment differs in " + ", ".join(
            f"{k} (kernel {theirs.get(k)!r}, server {mine.get(k)!r})" for k in differ[:5]) + (" ..." if len(differ) > 5 else "")
    return None


# --------------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------------

def _read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """One request: a JSON line, with the client's three standard streams as file descriptors."""
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    while data and not data.endswith(b"\n"):
        more = conn.recv(1 << 16)
        if not more:
            break
        data += more
    return json.loads(data or b"{}"), list(fds)


def _become_kernel(request: dict, fds: list[int], set_at_import: dict[str, str | None]) -> None:
    """In the forked child: take the client's streams, folder and environment, then run the kernel
    module as ``python -m`` would; never returns. ``set_at_import``: what the preloads did to the
    server's environment (a value, or None for removed), done again on top of the client's, as a
    fresh kernel's imports would do it (open_clip sets ``TOKENIZERS_PARALLELISM``, for one)."""
    code = 1
    try:
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        for signum in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()  # a session of its own, as jupyter_client starts a kernel (Ctrl-C reaches the runner only)
        os.chdir(request["cwd"])
        sys.path[0] = os.getcwd()  # what `python -m` puts first
        os.environ.clear()
        os.environ.update(request["env"])
        for key, value in set_at_import.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        import random

        random.seed()  # a new process draws fresh entropy; so does a forked one
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        import runpy

        module = request["argv"][2]
        sys.argv = [module, *request["argv"][3:]]
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - the kernel's own crash: report it, exit non-zero
        traceback.print_exc()
    finally:
        try:
            import atexit

            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _send(conn: socket.socket, message: dict) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode() + b"\n")


def serve(path: str, preload: Sequence[str]) -> None:
    """Import ``preload``, then fork a kernel for each client until SIGTERM. Requests are checked
    against the environment the server started with: some imports change it (open_clip sets
    ``TOKENIZERS_PARALLELISM``, torch ``TORCHINDUCTOR_CACHE_DIR``), and a kernel gets those
    changes on top of its own environment, as its own imports would have made them."""
    started_with = dict(os.environ)
    import IPython  # noqa: F401 - the bulk of what a kernel imports before its notebook runs
    import zmq  # noqa: F401

    for name in preload:
        if not name.startswith(NOT_PRELOADED):
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - the kernel will import it (and report) itself
                print(f"forkserver: not preloaded: {name} ({type(exc).__name__}: {exc})", file=sys.stderr)
    set_at_import: dict[str, str | None] = {k: v for k, v in os.environ.items() if started_with.get(k) != v}
    set_at_import.update({k: None for k in started_with if k not in os.environ})
    early = [m for m in NOT_PRELOADED if m in sys.modules]
    if early:  # they read the environment before the kernel could set it: serve nothing
        print(f"forkserver: a preloaded module imported {', '.join(early)}; kernels start the usual way",
              file=sys.stderr)
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}"
    listener.bind(tmp)
    listener.listen(64)
    os.replace(tmp, path)  # clients connect only once the server is ready
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    kernels: dict[int, socket.socket] = {}  # kernel pid -> its client's connection
    while not stopping:
        for key, _ in sel.select(timeout=0.1):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                try:
                    request, fds = _read_request(conn)
                except (OSError, ValueError) as exc:
                    _send(conn, {"refused": f"unreadable request ({exc})"})
                    conn.close()
                    continue
                reason = refusal(request, started_with)
                if reason:
                    print(f"forkserver: refused ({reason})", file=sys.stderr, flush=True)
                    for fd in fds:
                        os.close(fd)
                    _send(conn, {"refused": reason})
                    conn.close()
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    sel.close()
                    listener.close()
                    for other in kernels.values():
                        other.close()
                    conn_fd = conn.detach()
                    os.close(conn_fd)
                    _become_kernel(request, fds, set_at_import)
                print(f"forkserver: forked kernel {pid}", file=sys.stderr, flush=True)
                for fd in fds:
                    os.close(fd)
                kernels[pid] = conn
                sel.register(conn, selectors.EVENT_READ, pid)
                _send(conn, {"pid": pid})
            else:  # a client's connection is readable only when it closes: its kernel goes too
                conn, pid = key.fileobj, key.data
                if not conn.recv(1):
                    sel.unregister(conn)
                    conn.close()
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        while kernels:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = kernels.pop(pid, None)
            if conn is not None:
                code = os.waitstatus_to_exitcode(status)
                with contextlib.suppress(KeyError, ValueError):
                    sel.unregister(conn)
                _send(conn, {"exit": code})
                conn.close()
    for pid in kernels:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.unlink(path)


# --------------------------------------------------------------------------------------------
# The side that starts it
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def fork_server(preload: Sequence[str] = (), ready_timeout: float = 0.0) -> Iterator[str | None]:
    """Run a fork server for the kernels started inside the block (their manager launches them
    through the client while it runs); yields its socket path, or None when :func:`enabled` says
    no. The server starts in the background: kernels launched before it is ready start the usual
    way. ``ready_timeout``: wait up to this many seconds for it first (tests)."""
    from . import kernels

    if not enabled():
        yield None
        return
    folder = tempfile.mkdtemp(prefix="stprompt-fork-")
    path = os.path.join(folder, "server.sock")
    log = open(os.path.join(folder, "server.log"), "w")
    # env given as jupyter_client gives it to a kernel: os.environ, not the C-level environment,
    # which can hold more (GNU readline sets COLUMNS and LINES there when a process loads it)
    proc = subprocess.Popen([sys.executable, "-m", "stprompt.run.forkserver", path, *preload],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=dict(os.environ),
                            start_new_session=True)
    deadline = time.monotonic() + ready_timeout
    while ready_timeout and not os.path.exists(path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    previous, kernels.FORK_SOCKET = kernels.FORK_SOCKET, path
    try:
        yield path
    finally:
        kernels.FORK_SOCKET = previous
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def served(path: str | None) -> dict:
    """What the server at ``path`` has done so far, from its log: ``forked`` (kernels it forked),
    ``refused`` (requests it turned down) and ``reasons`` (the distinct refusal reasons, first
    seen first); all zero for None (no server)."""
    counts: dict = {"forked": 0, "refused": 0, "reasons": []}
    if not path:
        return counts
    try:
        text = (Path(path).parent / "server.log").read_text()
    except OSError:
        return counts
    for line in text.splitlines():
        if line.startswith("forkserver: forked kernel"):
            counts["forked"] += 1
        elif line.startswith("forkserver: refused ("):
            counts["refused"] += 1
            reason = line.removeprefix("forkserver: refused (").removesuffix(")")  # the reason may end in ")"
            if reason not in counts["reasons"]:
                counts["reasons"].append(reason)
    return counts


def preload_modules(notebook: Path) -> list[str]:
    """What a server for ``notebook``'s kernels imports: the library modules the notebook imports
    (with everything they import, :func:`stprompt.run.runner.notebook_modules`) and
    :data:`LAZY_IMPORTS`."""
    from .runner import notebook_modules

    return [*sorted(notebook_modules(Path(notebook))), *LAZY_IMPORTS]


def client_command(cmd: Sequence[str], path: str) -> list[str]:
    """The command jupyter_client launches instead of ``cmd`` while a server listens at ``path``."""
    return [sys.executable, str(CLIENT), path, *cmd]


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
