"""The commands and the notebook runner: how a profile becomes executed notebooks, tables and figures.

Read in the order a run takes (the science lives in the sibling packages and is only called from here):

- :mod:`.cli` — the ``stprompt`` command (``reproduce``, ``ablate``, ``extract``, ``infer``,
  ``report``, ``check``); also ``python -m stprompt`` and ``torchrun -m stprompt extract``;
- :mod:`.pipeline` — ``stprompt reproduce``: a profile's notebooks in order, each skipped when its
  notebook, parameters, library source and upstream outputs are unchanged;
- :mod:`.steps` — a profile's steps: notebooks checked against their parameters cells and chained by
  what they need;
- :mod:`.runner` — executing one notebook with papermill and fingerprinting its inputs (the library
  modules it imports, transitively); :mod:`.kernels` — the kernel manager every notebook runs under;
- :mod:`.grids`, :mod:`.ablate`, :mod:`.variants` — ablation grid files, their batches (one executed
  notebook per point, resumable) and the data and feature variants some points need;
- :mod:`.infer` — ``stprompt infer VIDEO`` with a trained model;
- :mod:`.notebooks` — keeping the committed notebooks clean (``make notebooks``, the git filter).

The report writers (:mod:`stprompt.reports`) import nothing from here; this package imports them.
"""
