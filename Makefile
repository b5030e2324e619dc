# The README's two commands. Both build .venv from uv.lock first (uv is installed with pip if absent).
PY      ?= python3
UV      := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV    := .venv
MMRISK  := $(VENV)/bin/mmrisk
DATA    := data/synthetic

.PHONY: run test setup clean

setup: $(VENV)/.synced

$(VENV)/.synced: uv.lock pyproject.toml
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || $(PY) -m pip install --user --quiet uv
	$(UV) sync --frozen --all-groups --all-extras --compile-bytecode
	@touch $@

# The main job. Exit status 1 from validate means "errors found": expected here, the synthetic
# registry carries the data-quality defects of docs/registry.md §6 on purpose.
run: setup
	test -f $(DATA)/manifest.json || $(MMRISK) data simulate --out $(DATA)
	$(MMRISK) data validate $(DATA) --report $(DATA)/validation_report.csv || [ $$? -eq 1 ]
	$(MMRISK) train --config configs/default.yaml
	$(MMRISK) compare --experiment mmrisk

test: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/pytest -n auto --durations=25

clean:
	rm -rf $(VENV) data/synthetic
