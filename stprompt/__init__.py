"""STPrompt: weakly supervised video anomaly detection and localization with spatio-temporal
prompts on a frozen CLIP (Wu et al., ACM MM 2024), reproduced on a synthetic benchmark and the
real datasets. See README.md for the two commands and DESIGN of the package."""

__version__ = "0.1.0"
