"""Shared fixtures: a running `tuna` kernel per test module (its own history file, warmed up by
its first cell), and the helpers of `kernel_client.py` on the import path.

These tests drive the real kernel, installed as the Jupyter kernelspec `tuna`
(`. scripts/env.sh && tuna install --sys-prefix`), through real clients: jupyter_client,
jupyter_kernel_test and nbclient. Run them with `python -m pytest -q tests` (scripts/test.sh).
"""

from __future__ import annotations

import pytest

from kernel_client import INTERRUPT_GRACE_SECS, Kernel


@pytest.fixture(scope="module")
def kernel(request, tmp_path_factory):
    """One kernel for the whole module, its first cell (`1 + 1`) already run."""
    directory = tmp_path_factory.mktemp("kernel")
    k = Kernel.start(directory, TUNA_INTERRUPT_GRACE_SECS=INTERRUPT_GRACE_SECS)
    k.name = f"kernel of {request.module.__name__}"
    k.directory = directory
    try:
        k.warm_up()
        yield k
    finally:
        k.shutdown()
