"""JupyterLab in headless Chromium runs notebooks/00-tour.ipynb with the tuna kernel, and a
screenshot shows the rendered plot and the progress display (issue 7).

Needs Debian's `chromium`, Node, JupyterLab in the venv and playwright-core in tests/lab, all
installed by `make setup`; fails naming what is missing. The screenshot is kept as
out/lab-00-tour.png (the README's picture of the live display comes from it)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kernel_client import kernel_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def missing() -> str | None:
    """What set-up did not install, or None."""
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (make setup installs it: apt-get install chromium)"
    if shutil.which("node") is None:
        return "node is not installed (make setup installs it: apt-get install nodejs npm)"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (make setup installs it: cd tests/lab && npm ci)"
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return "JupyterLab is not installed in the venv (make setup installs it)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lab_runs_the_tour_and_shows_plot_and_progress(tmp_path):
    if missing():
        pytest.fail(missing())
    shutil.copy(ROOT / "notebooks" / "00-tour.ipynb", tmp_path / "00-tour.ipynb")
    port, token = free_port(), "tuna-lab-test"
    log = open(tmp_path / "server.log", "w")  # a file, not a pipe nobody reads: the server logs every request
    env = kernel_env(tmp_path, TUNA_PRELUDE=str(ROOT / "prelude"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={tmp_path}", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.expose_app_in_browser=True",
         "--allow-root"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    server.kill()
                    pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'server.log').read_text()[-3000:]}")
                time.sleep(1)
        shot = tmp_path / "lab.png"
        url = f"http://127.0.0.1:{port}/lab/tree/00-tour.ipynb?token={token}"
        proc = subprocess.run(["node", str(HERE / "run_notebook.mjs"), url, str(shot), "1200"], cwd=HERE,
                              env={**env, "CHROMIUM": CHROMIUM}, capture_output=True, text=True, timeout=1500)
        print(proc.stderr)
        lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        assert lines, proc.stdout + proc.stderr
        seen = json.loads(lines[-1])
        assert not seen["errors"], seen
        assert seen["svg"], "no rendered SVG plot"
        assert seen["progress"], "no progress display"
        assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        (ROOT / "out").mkdir(exist_ok=True)
        shutil.copy(shot, ROOT / "out" / "lab-00-tour.png")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
