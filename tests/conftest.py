"""Shared fixtures: a running `tuna` kernel per test module (its own history file, warmed up by
its first cell), and the helpers of `kernel_client.py` on the import path.

These tests drive the real kernel, installed as the Jupyter kernelspec `tuna`
(`. scripts/env.sh && tuna install --sys-prefix`), through real clients: jupyter_client,
jupyter_kernel_test and nbclient. Run them with `python -m pytest -q tests` (scripts/test.sh).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kernel_client import INTERRUPT_GRACE_SECS, Kernel, kernel_env, tuna_binary

ROOT = Path(__file__).resolve().parent.parent
#: A whole tutorial notebook under TUNA_QUICK=1, prelude load included, on a busy 2-core machine.
TUTORIAL_TIMEOUT = 1500


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


@pytest.fixture(scope="session")
def tutorial(tmp_path_factory):
    """`tutorial("03-sentiment")`: notebooks/03-sentiment.ipynb executed once per test session by
    `tuna run` with `TUNA_QUICK=1` (smaller step counts, see notebooks/README.md) and this
    checkout's prelude. A failing cell fails every test that asks for the notebook, with the
    kernel's stderr."""
    cache: dict[str, object] = {}

    def run(name: str):
        if name not in cache:
            cache[name] = run_tutorial(name, tmp_path_factory.mktemp(name))
        result = cache[name]
        if isinstance(result, str):
            pytest.fail(result)
        return result

    return run


def run_tutorial(name: str, workdir: Path):
    """The executed notebook, or a failure message."""
    import nbformat

    source = ROOT / "notebooks" / f"{name}.ipynb"
    out = workdir / f"{name}.ipynb"
    env = kernel_env(workdir, TUNA_QUICK="1", TUNA_PRELUDE=str(ROOT / "prelude"))
    try:
        proc = subprocess.run(
            [tuna_binary(), "run", str(source), "-o", str(out)],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=TUTORIAL_TIMEOUT,
        )
    except subprocess.TimeoutExpired as e:
        return f"`tuna run {source.name}` took more than {TUTORIAL_TIMEOUT} s:\n{(e.stderr or '')[-5000:]}"
    if proc.returncode != 0:
        return f"`tuna run {source.name}` exited with {proc.returncode}:\n{proc.stderr[-8000:]}"
    return nbformat.read(out, as_version=4)
