"""The fork server of the grid kernels (stprompt.run.forkserver): a notebook run in a forked kernel
gives what a fresh kernel gives, a request it must not serve falls back to a fresh kernel, a
failing cell still fails, and a kernel never outlives its client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import nbformat
from pathlib import Path
import pytest

from stprompt.io import environment
from stprompt.run import forkserver
from stprompt.run.runner import StepFailed, execute_notebook

pytestmark = pytest.mark.skipif(not forkserver.enabled(), reason="no os.fork / Unix sockets here")

# A module no kernel imports by itself: present in a kernel only when the server preloaded it.
MARKER = "xml.dom.minidom"
PROBE = ("import os, sys, random, json\n"
         "from ipykernel.kernelapp import IPKernelApp\n"
         "handle = IPKernelApp.instance().parent_handle == int(os.environ.get('JPY_PARENT_PID', -1))\n"
         f"print(json.dumps({{'preloaded': {MARKER!r} in sys.modules, 'cwd': os.getcwd(), 'handle': handle, "
         "'mark': os.environ.get('STPROMPT_TEST_MARK'), 'random': random.random(), "
         "'backend': os.environ.get('MPLBACKEND'), 'path': sys.path, 'argv0': sys.argv[0]}))")


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(path))
    return path


def _printed(executed, cell=0):
    nb = nbformat.read(str(executed), as_version=4)
    return json.loads("".join(o.get("text", "") for o in nb.cells[cell].outputs if o.output_type == "stream"))


def test_refusal_rules():
    env = {"PATH": "/bin", "OMP_NUM_THREADS": "1"}
    ok = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"], "env": dict(env, JPY_PARENT_PID="7")}
    assert forkserver.refusal(ok, env) is None  # jupyter_client's own variables may differ
    assert "OMP_NUM_THREADS" in forkserver.refusal(dict(ok, env=dict(env, OMP_NUM_THREADS="2")), env)
    assert "HF_HUB_OFFLINE" in forkserver.refusal(dict(ok, env=dict(env, HF_HUB_OFFLINE="1")), env)
    assert "another interpreter" in forkserver.refusal(dict(ok, argv=["/usr/bin/python9", *ok["argv"][1:]]), env)
    assert "python -m" in forkserver.refusal(dict(ok, argv=[sys.executable, "script.py"]), env)


def test_the_grid_notebook_preloads_nothing_that_reads_the_kernel_environment():
    """The server serves only when its preloads leave matplotlib and ipykernel.kernelapp
    unimported (they read what the kernel sets at its start): check the ablation notebook's
    preload list in a fresh interpreter."""
    from stprompt.run.runner import repo_root

    mods = forkserver.preload_modules(repo_root() / "notebooks" / "04_ablations.ipynb")
    assert "stprompt.train" in mods and "open_clip" in mods
    code = ("import importlib, sys, IPython, zmq\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            f"print(any(m in sys.modules for m in {forkserver.NOT_PRELOADED!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_notebooks_run_in_forked_kernels_then_fresh_ones_when_refused(tmp_path):
    from stprompt.run.runner import repo_root

    nb = _notebook(tmp_path / "probe.ipynb", PROBE)
    with environment({"STPROMPT_TEST_MARK": "grid"}):
        with forkserver.fork_server([MARKER], ready_timeout=120) as path:
            assert path and os.path.exists(path)
            execute_notebook(nb, tmp_path / "a.ipynb", {})
            execute_notebook(nb, tmp_path / "b.ipynb", {})
            with environment({"STPROMPT_TEST_MARK": "changed"}):  # refused: starts the usual way
                execute_notebook(nb, tmp_path / "c.ipynb", {})
            log = (Path(path).parent / "server.log").read_text()
    assert log.count("refused") == 1, log
    a, b, c = (_printed(tmp_path / f"{x}.ipynb") for x in "abc")
    assert a["preloaded"] and b["preloaded"] and not c["preloaded"]
    assert a["cwd"] == b["cwd"] == c["cwd"] == str(repo_root())  # papermill's working folder
    assert (a["mark"], b["mark"], c["mark"]) == ("grid", "grid", "changed")
    assert a["backend"] == c["backend"] == "module://matplotlib_inline.backend_inline"
    assert a["handle"] and b["handle"] and c["handle"]  # the kernel read its own JPY_PARENT_PID
    assert a["path"] == c["path"] and a["argv0"] == c["argv0"]  # imports resolve as in a fresh kernel
    assert a["random"] != b["random"]  # reseeded from the OS in every kernel, as a new process is


def test_a_failing_cell_fails_in_a_forked_kernel(tmp_path):
    nb = _notebook(tmp_path / "bad.ipynb", f"import sys\nassert {MARKER!r} in sys.modules", "1 / 0")
    with forkserver.fork_server([MARKER], ready_timeout=120):
        with pytest.raises(StepFailed, match="ZeroDivisionError"):
            execute_notebook(nb, tmp_path / "bad_out.ipynb", {})


def test_a_kernel_dies_with_its_client_and_signals_are_forwarded(tmp_path):
    psutil = pytest.importorskip("psutil")
    with forkserver.fork_server([], ready_timeout=120) as path:
        server = [p for p in psutil.Process().children() if "stprompt.run.forkserver" in " ".join(p.cmdline())][0]

        def start():  # a "kernel" that waits on its stdin forever
            cmd = forkserver.client_command([sys.executable, "-m", "code"], path)
            client = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=dict(os.environ))
            for _ in range(600):
                kids = server.children()
                if kids:
                    return client, kids[0]
                time.sleep(0.05)
            raise AssertionError("the server forked no kernel")

        client, kernel = start()
        client.kill()  # SIGKILL: the client cannot forward it, the server must notice
        kernel.wait(timeout=30)
        client.wait(timeout=30)
        client, kernel = start()
        client.send_signal(signal.SIGTERM)  # forwarded: the kernel ends, the client returns its status
        assert client.wait(timeout=30) == 128 + signal.SIGTERM or client.returncode == -signal.SIGTERM
        kernel.wait(timeout=30)


def test_a_preload_that_sets_a_variable_does_not_turn_kernels_away(tmp_path, monkeypatch):
    """open_clip sets TOKENIZERS_PARALLELISM when imported, torch TORCHINDUCTOR_CACHE_DIR: the server
    checks requests against the environment it started with, and a forked kernel gets what the
    imports set, as a fresh kernel importing them would (the grid kernels were all refused before)."""
    (tmp_path / "sets_a_variable.py").write_text("import os\nos.environ['STPROMPT_TEST_SET_AT_IMPORT'] = 'yes'\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    nb = _notebook(tmp_path / "probe.ipynb", "import os, sys\n"
                   "print({'preloaded': 'sets_a_variable' in sys.modules, "
                   "'set': os.environ.get('STPROMPT_TEST_SET_AT_IMPORT')})")
    with forkserver.fork_server(["sets_a_variable"], ready_timeout=120) as path:
        execute_notebook(nb, tmp_path / "out.ipynb", {})
        counts = forkserver.served(path)
    assert counts == {"forked": 1, "refused": 0, "reasons": []}, counts
    out = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4).cells[0].outputs[0]["text"]
    assert out.strip() == "{'preloaded': True, 'set': 'yes'}"
    assert "STPROMPT_TEST_SET_AT_IMPORT" not in os.environ
