"""STPrompt: weakly supervised video anomaly detection and localization with spatio-temporal
prompts on a frozen CLIP (Wu et al., ACM MM 2024), reproduced on a synthetic benchmark and the
real datasets. See README.md for the two commands and DESIGN of the package.

Importing the package inside IPython (a notebook kernel, JupyterLab, papermill) registers a PNG
formatter for ``matplotlib.figure.Figure``: every figure a cell returns or passes to ``display`` is
shown as an image in the notebook, in JupyterLab and in the HTML reports. The library builds figures
with ``Figure`` directly, never through pyplot, so without this IPython would only print
``<Figure size ... with 2 Axes>`` (the inline backend registers its formatter only once pyplot is
imported). Outside IPython nothing happens and matplotlib is not imported.
"""

import sys

__version__ = "0.1.0"


def show_figures_inline() -> bool:
    """Register :func:`stprompt.reports.tables.figure_png` as IPython's ``image/png`` formatter for
    matplotlib Figures (by name, so matplotlib is imported only when a figure is displayed).
    Returns whether an IPython shell was found. Called once when the package is imported."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return False

    def png(fig):
        from .reports.tables import figure_png

        return figure_png(fig)

    shell.display_formatter.formatters["image/png"].for_type_by_name("matplotlib.figure", "Figure", png)
    return True


show_figures_inline()
