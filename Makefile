# tuna — the commands a person types. Everything heavy lives in $(TUNA_CACHE) (default
# ~/.cache/tuna): the Python venv with torch, the kernel's build, evcxr's build cache, data.
SHELL := /bin/bash
ENV := . scripts/env.sh && export TUNA_PRELUDE=$(CURDIR)/prelude &&

.PHONY: demo test bench lab setup kernel install clean-outputs

## demo: set up, then execute the sentiment tutorial headless through the kernel: MiniLM fine-tuned
## on real tweets six ways (full, partial, BitFit, LoRA, adapters, prompt tuning); the executed
## notebook and its plots land in out/. The CI-sized run by default (minutes on 2 cores);
## `make demo FULL=1` runs the notebook's full protocol (4,000 tweets, 3 epochs each: about an hour).
demo: setup
	@start=$$SECONDS; $(ENV) $(if $(FULL),,TUNA_QUICK=1) tuna run notebooks/03-sentiment.ipynb -o out/03-sentiment.ipynb \
	  || { echo "demo: the notebook failed; the executed part is in out/03-sentiment.ipynb, the error above"; exit 1; }; \
	echo "demo: ran in $$((SECONDS - start)) s"; \
	echo "Executed notebook: $(CURDIR)/out/03-sentiment.ipynb"; \
	echo "Plots:"; ls -1 $(CURDIR)/out/03-sentiment*.png $(CURDIR)/out/03-sentiment*.svg 2>/dev/null | sed 's/^/  /' || true

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
