# STPrompt suite. The two commands a user needs: `make reproduce` and `make test`.
# Both create .venv and install the project when needed; nothing else has to be done first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= synthvad
# The torch build is machine-specific; these releases install from local disk on the project's
# machines and run on CPU and CUDA. Override, e.g. TORCH_SPEC="torch torchvision".
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# pytest-xdist workers for `make test` (0: one process). Each test module, and the notebooks
# together, run in one worker (tests/conftest.py), the end-to-end runs first.
TEST_WORKERS ?= 2
export HF_HUB_OFFLINE := 1

.PHONY: install reproduce test notebooks report clean

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(TORCH_SPEC)
	$(BIN)/python -m pip install -e ".[dev]"
	@touch $@

install: $(VENV)/.installed
	@# Notebooks: outputs of a user's run never reach a commit, and opening and saving one in
	@# JupyterLab does not dirty git (the clean filter of .gitattributes; stprompt/run/notebooks.py).
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git config filter.stprompt-notebook.clean "$(BIN)/python -m stprompt.run.notebooks --filter"; \
	  git config filter.stprompt-notebook.smudge cat; fi

## Regenerate every table, figure and HTML report of the default benchmark (runs/$(PROFILE)/, figures/).
## JOBS=N runs N ablation points at once (default: the profile's ablation_jobs; one core each).
reproduce: install
	$(BIN)/stprompt reproduce --profile $(PROFILE) $(if $(JOBS),--jobs $(JOBS))

## Unit, data-contract and model tests, then the notebooks under nbval (smoke parameters).
test: install
	$(BIN)/python -m pytest tests $(NOTEBOOKS) -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

## Re-execute the notebooks with their smoke defaults and strip outputs except nbval-checked cells.
notebooks: install
	$(if $(NOTEBOOKS),$(BIN)/python -m stprompt.run.notebooks $(NOTEBOOKS),@echo "no notebooks yet")

## Rebuild the HTML reports of the profile's executed notebooks without rerunning anything.
report: install
	$(BIN)/stprompt report --profile $(PROFILE)

clean:
	rm -rf runs/ .pytest_cache
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
