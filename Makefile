# tuna — the commands a person types. Everything heavy lives in $(TUNA_CACHE) (default
# ~/.cache/tuna): the Python venv with torch, the kernel's build, evcxr's build cache, data.
SHELL := /bin/bash
ENV := . scripts/env.sh && export TUNA_PRELUDE=$(CURDIR)/prelude &&

.PHONY: demo test bench lab setup kernel install clean-outputs

## demo: set up, then execute the tour notebook headless through the kernel (outputs in out/)
demo: setup
	$(ENV) tuna run notebooks/00-tour.ipynb -o out/00-tour.ipynb
	@echo "Executed notebook: out/00-tour.ipynb (plots in out/)"

## test: set up, then run every test (Rust unit and integration tests, kernel and notebook tests)
test: setup
	$(ENV) bash scripts/test.sh

## bench: set up, then benchmark against the Python reference (writes bench-results.json)
bench: setup
	$(ENV) bash scripts/bench.sh

## lab: set up, then open JupyterLab with the tuna kernel
lab: setup
	$(ENV) jupyter lab notebooks

## setup: venv with torch, Jupyter clients, data, the kernel built and installed, cache warm
setup:
	bash scripts/setup.sh
