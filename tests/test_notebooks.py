"""Notebooks executed two ways, with the same expectations: by nbclient through the installed
kernelspec `tuna` (what papermill and `jupyter execute` do), and by `tuna run` (no Python).

`tests/notebooks/display.ipynb` (written by `make_display.py`) has one cell per kind of rich
output; `notebooks/00-tour.ipynb` is the README's tour. Each notebook runs once per runner per
session; the tests read the outputs it left.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import subprocess
import zlib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from kernel_client import FIRST_CELL_TIMEOUT, KERNEL_NAME, STARTUP_TIMEOUT, kernel_env, require_kernelspec, tuna_binary

ROOT = Path(__file__).resolve().parent.parent
DISPLAY = ROOT / "tests" / "notebooks" / "display.ipynb"
TOUR = ROOT / "notebooks" / "00-tour.ipynb"
RUNNERS = ["nbclient", "tuna-run"]


def run_nbclient(path: Path, workdir: Path) -> nbformat.NotebookNode:
    require_kernelspec()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        # Per cell; the first cell waits for the prelude.
        timeout=FIRST_CELL_TIMEOUT,
        startup_timeout=STARTUP_TIMEOUT,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=kernel_env(workdir))
    return nb


def run_tuna(path: Path, workdir: Path) -> nbformat.NotebookNode:
    out = workdir / f"{path.stem}.out.ipynb"
    proc = subprocess.run(
        [tuna_binary(), "run", str(path), "-o", str(out)],
        cwd=workdir,
        env=kernel_env(workdir),
        capture_output=True,
        text=True,
        timeout=FIRST_CELL_TIMEOUT * 2,
    )
    assert proc.returncode == 0, f"`tuna run {path.name}` exited with {proc.returncode}:\n{proc.stderr[-5000:]}"
    nb = nbformat.read(out, as_version=4)
    return nb


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """`executed(path, runner)`: the notebook at `path` after `runner` executed it (once)."""
    cache: dict[tuple[Path, str], nbformat.NotebookNode] = {}

    def get(path: Path, runner: str) -> nbformat.NotebookNode:
        if (path, runner) not in cache:
            workdir = tmp_path_factory.mktemp(f"{path.stem}-{runner}")
            run = run_nbclient if runner == "nbclient" else run_tuna
            cache[(path, runner)] = run(path, workdir)
        return cache[(path, runner)]

    return get


def outputs(nb: nbformat.NotebookNode, *, cell_id: str | None = None, containing: str | None = None) -> list[dict]:
    """The outputs of one code cell (found by id, or by a piece of its source), with adjacent
    stream outputs of one name merged (nbclient may split what tuna run joins)."""
    cells = [
        c
        for c in nb.cells
        if c.cell_type == "code" and (c.get("id") == cell_id if cell_id else containing in c.source)
    ]
    assert len(cells) == 1, f"no single code cell {cell_id or containing!r}"
    merged: list[dict] = []
    for out in cells[0].outputs:
        out = dict(out)
        if out["output_type"] == "error":
            pytest.fail(f"cell {cell_id or containing!r} failed: {out['ename']}: {out['evalue']}")
        if out["output_type"] == "stream" and merged and merged[-1]["output_type"] == "stream" and merged[-1]["name"] == out["name"]:
            merged[-1] = {**merged[-1], "text": merged[-1]["text"] + out["text"]}
        else:
            merged.append(out)
    return merged


def kinds(outs: list[dict]) -> list[str]:
    return [o["output_type"] for o in outs]


def text_of(out: dict, mime: str) -> str:
    value = out["data"][mime]
    return "".join(value) if isinstance(value, list) else value


# -- display.ipynb -----------------------------------------------------------------------------


@pytest.mark.parametrize("runner", RUNNERS)
def test_valid_notebook_with_kernel_metadata(executed, runner):
    nb = executed(DISPLAY, runner)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "tuna"
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code_cells] == list(range(1, len(code_cells) + 1))


@pytest.mark.parametrize("runner", RUNNERS)
def test_svg_appears_mid_cell(executed, runner):
    outs = outputs(executed(DISPLAY, runner), cell_id="svg-mid-cell")
    assert kinds(outs) == ["stream", "display_data", "stream", "display_data", "stream"], outs
    assert outs[0]["text"] == "before the plot\n"
    assert "<circle" in text_of(outs[1], "image/svg+xml")
    assert outs[2]["text"] == "after the plot\n"
    chart = text_of(outs[3], "image/svg+xml")
    assert chart.lstrip().startswith(("<svg", "<?xml")) and "Loss" in chart, chart[:200]
    assert outs[4]["text"] == "after the chart\n"


@pytest.mark.parametrize("runner", RUNNERS)
def test_png_is_shown_and_is_the_cells_value(executed, runner):
    nb = executed(DISPLAY, runner)
    source = next(c.source for c in nb.cells if c.get("id") == "png")
    expected = bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", source))
    assert_valid_png(expected)
    outs = outputs(nb, cell_id="png")
    assert kinds(outs) == ["display_data", "execute_result"], outs
    for out in outs:
        assert base64.b64decode(text_of(out, "image/png")) == expected


def assert_valid_png(data: bytes) -> None:
    """A well-formed 1×1 PNG: signature, chunks with correct CRCs, a pixel row that inflates."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks[kind] = body
        pos += 12 + length
    assert struct.unpack(">II", chunks[b"IHDR"][:8]) == (1, 1)
    assert len(zlib.decompress(chunks[b"IDAT"])) == 5  # filter byte + RGBA


@pytest.mark.parametrize("runner", RUNNERS)
def test_html_table_is_the_cells_value(executed, runner):
    outs = outputs(executed(DISPLAY, runner), cell_id="html-table")
    assert kinds(outs) == ["execute_result"], outs
    html = text_of(outs[0], "text/html")
    assert html.startswith("<table>") and html.rstrip("\n").endswith("</table>"), html
    assert "<td>LoRA r=8</td>" in html
    assert text_of(outs[0], "text/plain") == "tuning accuracy"


@pytest.mark.parametrize("runner", RUNNERS)
def test_display_updated_50_times_shows_the_last_value(executed, runner):
    outs = outputs(executed(DISPLAY, runner), cell_id="updated-50-times")
    assert kinds(outs) == ["display_data", "stream"], outs
    assert text_of(outs[0], "text/html") == "<b>step 50</b>"
    assert text_of(outs[0], "text/plain") == "step 50"
    assert outs[1]["text"] == "updated 50 times\n"


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_later_cell_updates_an_earlier_display(executed, runner):
    nb = executed(DISPLAY, runner)
    shown = outputs(nb, cell_id="shown-for-a-later-cell")
    assert kinds(shown) == ["display_data"], shown
    assert text_of(shown[0], "text/plain") == "replaced by a later cell"
    assert outputs(nb, cell_id="updates-an-earlier-cell") == []


@pytest.mark.parametrize("runner", RUNNERS)
def test_clear_output(executed, runner):
    nb = executed(DISPLAY, runner)
    outs = outputs(nb, cell_id="clear-output")
    assert outs == [{"output_type": "stream", "name": "stdout", "text": "only this line remains\n"}], outs
    outs = outputs(nb, cell_id="clear-output-wait")
    assert kinds(outs) == ["display_data"], outs
    assert text_of(outs[0], "text/html") == "<i>new frame</i>"


@pytest.mark.parametrize("runner", RUNNERS)
def test_markdown_and_json(executed, runner):
    outs = outputs(executed(DISPLAY, runner), cell_id="markdown-and-json")
    assert kinds(outs) == ["display_data", "display_data"], outs
    assert text_of(outs[0], "text/markdown") == "**bold** and _italic_"
    value = outs[1]["data"]["application/json"]
    value = json.loads(value) if isinstance(value, str) else value
    assert value == {"loss": 0.25, "steps": [1, 2, 3]}


# -- 00-tour.ipynb -----------------------------------------------------------------------------


@pytest.mark.parametrize("runner", RUNNERS)
def test_tour_tensors(executed, runner):
    outs = outputs(executed(TOUR, runner), containing="a.matmul(&a.tr())")
    assert kinds(outs) == ["stream", "execute_result"], outs
    assert "a =" in outs[0]["text"] and "a·aᵀ =" in outs[0]["text"]
    # a·aᵀ = [[14, 32], [32, 77]], whose sum is 155.
    assert float(text_of(outs[1], "text/plain")) == 155.0


@pytest.mark.parametrize("runner", RUNNERS)
def test_tour_device(executed, runner):
    outs = outputs(executed(TOUR, runner), containing="let dev = device();")
    assert kinds(outs) == ["execute_result"], outs
    # A String shows with or without Debug's quotes.
    assert text_of(outs[0], "text/plain").strip('"').startswith("device: "), outs


@pytest.mark.parametrize("runner", RUNNERS)
def test_tour_plot_appears_before_the_text_printed_after_it(executed, runner):
    outs = outputs(executed(TOUR, runner), containing="show(&LineChart::new(")
    assert kinds(outs) == ["display_data", "stream"], outs
    svg = text_of(outs[0], "image/svg+xml")
    assert "<svg" in svg and "Two curves" in svg
    assert outs[1]["text"] == "this line is printed after the plot\n"


@pytest.mark.parametrize("runner", RUNNERS)
def test_tour_display_updated_in_place(executed, runner):
    outs = outputs(executed(TOUR, runner), containing="status.update(")
    assert kinds(outs) == ["display_data"], outs
    assert text_of(outs[0], "text/html") == "<b>step 50 of 50</b>"


@pytest.mark.parametrize("runner", RUNNERS)
def test_tour_progress_bar_finishes_with_the_total(executed, runner):
    outs = outputs(executed(TOUR, runner), containing="progress(0..3_000_000u64)")
    assert kinds(outs) == ["display_data", "execute_result"], outs
    bar = text_of(outs[0], "text/html")
    assert 'class="tuna-progress"' in bar
    assert "3000000/3000000" in bar, bar
    assert "(interrupted)" not in bar
    # sum of i % 7 for i in 0..3,000,000
    assert text_of(outs[1], "text/plain") == "8999994"


@pytest.mark.parametrize("runner", RUNNERS)
def test_tour_loop_and_vars(executed, runner):
    nb = executed(TOUR, runner)
    outs = outputs(nb, containing="while spins < 50_000_000")
    assert kinds(outs) == ["execute_result"], outs
    assert text_of(outs[0], "text/plain") == "(8999994, 50000000)"
    outs = outputs(nb, containing=":vars")
    listing = "".join(text_of(o, "text/plain") for o in outs if "data" in o) + "".join(
        o.get("text", "") for o in outs
    )
    for name in ("total", "spins", "xs", "status"):
        assert name in listing, listing
