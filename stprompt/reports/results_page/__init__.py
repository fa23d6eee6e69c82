"""The results page (``06_report``): every table and figure of a profile gathered into one folder
(``figures/`` for the default benchmark) with a ``README.md`` that says what each shows.

Inputs, all written by the earlier steps of the profile:

- ``<run_dir>/tables/<name>.{md,csv,tex}`` and ``<run_dir>/figures/<name>.png`` (00–05);
- ``<run_dir>/metrics.json`` (the headline numbers);
- the profile's ablation grids (``<run_dir>/ablations/<grid>/``, :mod:`stprompt.run.ablate`).

Outputs in ``out_dir``: the PNGs (re-encoded with a 256-colour palette and at most ``max_width``
pixels wide, so the committed folder stays small), ``tables/<name>.{md,csv,tex}``, one table and
one bar chart per ablation grid, the anomaly-scale sweep figure, the paper-vs-SynthVAD table and
``README.md``. The paper's numbers (:data:`PAPER_NUMBERS`, PAPER.md) are on real data with a
ViT-B/16 CLIP. A SynthVAD profile's numbers come from the in-project synthetic benchmark and tiny
CLIP, and the page labels them synthetic; a real profile's page (UCF-Crime, ShanghaiTech,
UBnormal) says which dataset, backbone (and weights hash), frame convention and θ rule it ran
with, and sets the paper's numbers **for that dataset** beside its own
(``tables/paper_vs_<dataset>``). Every sentence that states a result is generated from the numbers.

The parts live in submodules, every name importable from here as before: :mod:`.page` (gathering
the tables and figures and writing ``README.md``), :mod:`.notes` (what the page says about each table
and figure), :mod:`.ablations` (the ablation grids' tables, findings and the anomaly-scale sweep),
:mod:`.paper` (the paper's numbers side by side) and :mod:`.differences` ("What the benchmark resolves").
"""

from __future__ import annotations

from .notes import (  # noqa: F401
    ABLATION_PLOT_METRICS, BOX_NOTES, DATASET_NAMES, FIGURE_NOTES, FIGURE_ORDER,
    FRAME_CONVENTION_NOTES, SCALE_GRID, TABLE_NOTES, TABLE_ORDER, TABLE_TITLES, THETA_NOTES)
from .ablations import (  # noqa: F401
    grid_finding, scale_series, scale_table, _cell, _pm)
from .paper import (  # noqa: F401
    paper_comparison, paper_comparison_real, PAPER_NUMBERS, paper_other_datasets, percent,
    read_table_column, read_table_rows, run_description, scale_finding, _NUMBER)
from .differences import (  # noqa: F401
    comparison_rows, resolve_blocks, RESOLVE_COLUMNS, RESOLVE_DETECTION, RESOLVE_LOCALIZATION,
    resolve_section)
from .page import (  # noqa: F401
    build_results_page, export_png, profile_dataset, _ordered, _page, _table_md)
