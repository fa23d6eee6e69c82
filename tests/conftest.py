"""Shared test setup: no network, a non-interactive matplotlib in the test process, fixture
notebooks kept out of nbval (the pipeline tests run them, with parameters), and the scheduling
that lets ``make test`` run on two pytest-xdist workers.

Under xdist (``make test`` passes ``-n 2 --dist loadscope --no-loadscope-reorder``) the unit of
work is a test module, run by one worker in file order, so module-scoped fixtures are built once,
and **all the nbval notebooks together**, run by one worker in their numbered order (``02_train``
reads what ``01_data_prep`` wrote under ``runs/smoke``; each notebook's cells share one kernel).
The scopes are set by a scheduler of our own (:class:`NotebooksTogether`): xdist's ``loadgroup``
marks groups by rewriting node ids, which pytest 9 no longer reads. The units that take longest
(the end-to-end runs, the notebooks) are handed out first, so the two workers finish close
together. Without xdist none of this applies and the order is pytest's own.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if "PYTEST_XDIST_WORKER" in os.environ:
    # Each worker (and the kernels and processes it starts) gets its share of the cores: two
    # workers with torch's default of one thread per core each ran 2.2x the CPU time of one
    # process on 2 cores and saved only 8 % of the wall time. Set before torch is imported.
    _share = str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, _share)

import matplotlib  # noqa: E402
import pytest  # noqa: E402

matplotlib.use("Agg")

collect_ignore_glob = ["fixtures/*"]

#: Longest units first (measured on 2 cores); the rest follow in collection order.
SLOW_FIRST = ("tests/test_reproduce_smoke.py", "tests/test_real_profiles.py", "notebooks")


def _scope(nodeid: str) -> str:
    """The unit of work of a test: ``notebooks`` for every nbval cell, else its module."""
    path = nodeid.split("::", 1)[0]
    return "notebooks" if path.endswith(".ipynb") else path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ:  # xdist collects in the workers
        return
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda it: rank.get(_scope(it.nodeid), len(SLOW_FIRST)))  # stable: file order kept


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class NotebooksTogether(LoadScopeScheduling):
        """xdist's per-module scheduling, with the notebooks as one unit."""

        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    return NotebooksTogether(config, log)
