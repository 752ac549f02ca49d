"""Set-up as a new machine meets it: `scripts/env.sh` sourced under `set -euo pipefail` in every
state a machine can be in, an interrupted data fetch redone, and the real `scripts/setup.sh` run
against an empty `TUNA_CACHE`, after which the kernel it installed runs a prelude cell.

The fresh set-up shares only download and compile caches with this machine's (pip's downloads,
cargo's target folder for the kernel binary, the fetched data), never the venv or evcxr's build
cache: the venv is created, torch installed into it, the kernelspec written and the prelude
compiled into a new build cache exactly as on a machine that never had tuna (about 10-15 min on
2 cores). A regression in any step fails here before a new user meets it."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kernel_client import FIRST_CELL_TIMEOUT, Kernel

ROOT = Path(__file__).resolve().parent.parent
#: The whole of scripts/setup.sh on an empty cache, pip installing torch from its download cache.
SETUP_TIMEOUT = 3600


def clean_env(cache: Path, **extra: str) -> dict[str, str]:
    """Our environment without anything scripts/env.sh or a kernel added: a new user's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUNA_", "LIBTORCH", "VIRTUAL_ENV", "PIP_", "JUPYTER"))}
    env.pop("CARGO_TARGET_DIR", None)
    env.pop("LD_LIBRARY_PATH", None)
    venv = os.environ.get("TUNA_VENV")
    target = os.environ.get("CARGO_TARGET_DIR")
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if p and p not in {f"{venv}/bin", f"{target}/release"}
    )
    env["TUNA_CACHE"] = str(cache)
    env.update(extra)
    return env


def source_env(env: dict[str, str]) -> dict[str, str]:
    """Sources scripts/env.sh as the scripts do (under set -euo pipefail); its variables."""
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail; . scripts/env.sh; echo sourced; env"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0 and "sourced" in proc.stdout, f"sourcing env.sh failed ({proc.returncode}):\n{proc.stderr}"
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def test_env_sh_sources_with_no_cache(tmp_path):
    got = source_env(clean_env(tmp_path / "cache"))
    assert got["TUNA_VENV"] == str(tmp_path / "cache/venv")
    assert got["LD_LIBRARY_PATH"].startswith(str(tmp_path / "cache/venv/lib/python3"))


def test_env_sh_sources_with_a_venv_lacking_torch(tmp_path):
    """The state that stopped every new machine's `make demo` at its second step."""
    cache = tmp_path / "cache"
    subprocess.run(["python3", "-m", "venv", "--without-pip", str(cache / "venv")], check=True, env=clean_env(cache))
    got = source_env(clean_env(cache))
    assert got["PATH"].startswith(str(cache / "venv/bin"))
    # Once torch is there (here: its lib folder), the same sourcing finds it.
    lib = next((cache / "venv/lib").glob("python3*")) / "site-packages/torch/lib"
    lib.mkdir(parents=True)
    assert source_env(clean_env(cache))["LD_LIBRARY_PATH"].split(":")[0] == str(lib)


def test_env_sh_sourced_twice_adds_nothing_twice(tmp_path):
    env = clean_env(tmp_path / "cache")
    once = source_env(env)
    twice = source_env({**env, "PATH": once["PATH"], "LD_LIBRARY_PATH": once["LD_LIBRARY_PATH"]})
    assert twice["PATH"] == once["PATH"] and twice["LD_LIBRARY_PATH"] == once["LD_LIBRARY_PATH"]


def test_an_interrupted_data_fetch_is_redone(tmp_path):
    """A truncated download, a half-copied entry without its marker and a leftover temporary
    folder are none of them taken as data: the rerun fetches the entry whole."""
    real_wheels = Path(os.environ["TUNA_CACHE"]) / "wheels"
    wheel = next(real_wheels.glob("scikit_learn-1.9.1-*.whl"), None)
    if wheel is None:
        pytest.fail(f"no scikit-learn wheel in {real_wheels}: run `make setup` first")
    cache, data = tmp_path / "cache", tmp_path / "data"
    (cache / "wheels").mkdir(parents=True)
    (cache / "wheels" / wheel.name).write_bytes(wheel.read_bytes()[: wheel.stat().st_size // 2])
    (data / "digits").mkdir(parents=True)
    (data / "digits" / "digits.csv.gz").write_bytes(b"\x1f\x8b half a file")
    (data / "digits.partial.abc123").mkdir()
    env = clean_env(cache, TUNA_DATA=str(data), PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(cache / "pip")))
    proc = subprocess.run(["bash", "scripts/fetch-data.sh", "digits"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (data / "digits/.complete").read_text().strip() == "scikit-learn==1.9.1"
    rows = gzip.decompress((data / "digits/digits.csv.gz").read_bytes()).decode().splitlines()
    assert len(rows) == 1797, len(rows)
    assert not list(data.glob("*.partial.*")), "a temporary folder was left behind"
    assert (cache / "wheels" / wheel.name).stat().st_size == wheel.stat().st_size, "the truncated wheel was kept"
    # A second run only checks.
    again = subprocess.run(["bash", "scripts/fetch-data.sh", "digits"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "fetched" not in again.stdout, again.stdout + again.stderr


@pytest.fixture
def empty_cache(tmp_path):
    """An empty TUNA_CACHE, removed afterwards whatever happened: its venv is 5 GB."""
    cache = tmp_path / "cache"
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


def test_setup_from_an_empty_cache_installs_a_working_kernel(tmp_path, empty_cache):
    cache = empty_cache
    env = clean_env(
        cache,
        PIP_CACHE_DIR=os.environ["PIP_CACHE_DIR"],
        CARGO_TARGET_DIR=os.environ["CARGO_TARGET_DIR"],
        TUNA_DATA=os.environ["TUNA_DATA"],
    )
    log = tmp_path / "setup.log"
    with open(log, "w") as out:
        proc = subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=SETUP_TIMEOUT)
    text = log.read_text()
    assert proc.returncode == 0, f"scripts/setup.sh on an empty TUNA_CACHE exited with {proc.returncode}:\n{text[-6000:]}"
    for step in ("venv", "python-packages", "data", "kernel-build", "kernel-install"):
        assert f"== {step}:" in text, f"set-up skipped the step {step}:\n{text}"
    assert "set-up done" in text
    venv = cache / "venv"
    assert (venv / "bin/python").exists()
    assert next((venv / "lib").glob("python3*/site-packages/torch/lib/libtorch_cpu.so"), None), "torch is not in the new venv"
    assert (cache / "evcxr/slot-0").is_dir(), "the build cache was not warmed in the new TUNA_CACHE"
    spec_dir = venv / "share/jupyter/kernels"
    assert (spec_dir / "tuna/kernel.json").exists()

    # The freshly installed kernel, started as Jupyter would, in the environment of a new shell.
    kernel = Kernel.start(tmp_path, spec_dirs=[str(spec_dir)], env=clean_env(cache))
    try:
        first = kernel.execute("let t = Tensor::from_slice(&[1.0f32, 2.0, 3.5]);\n(&t * 2.0).sum(Kind::Float).double_value(&[])", timeout=FIRST_CELL_TIMEOUT)
        first.assert_ok()
        assert first.result == "13.0", first.describe()
    finally:
        kernel.shutdown()
