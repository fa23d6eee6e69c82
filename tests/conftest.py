"""Shared test setup: no network, a non-interactive matplotlib in the test process, and fixture
notebooks kept out of nbval (the pipeline tests run them, with parameters)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

collect_ignore_glob = ["fixtures/*"]
