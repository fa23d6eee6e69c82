"""The report writers: what a run's numbers become on disk and on the results page.

- :mod:`.tables` — figures to PNG, tables as Markdown / CSV / LaTeX, ``metrics.json``, the HTML
  reports' embedded images;
- :mod:`.evaluation` — the test-split evaluation of trained runs (``03_evaluate``): per-seed reports,
  the main table with its paired video-level bootstrap, the scores an ablation point keeps;
- :mod:`.viz` — figure functions (data in, a matplotlib ``Figure`` out);
- :mod:`.results_page` — the results page (``06_report``, ``figures/`` for the default benchmark).

Nothing here imports the commands (:mod:`stprompt.run`); they pass what the page needs (for
example the collected ablation grids, :func:`stprompt.run.ablate.collect_grids`).
"""
