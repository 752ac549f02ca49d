"""Every tutorial in notebooks/ runs top to bottom through the real kernel (`tuna run`, with
`TUNA_QUICK=1`) without an error, and each .ipynb is the one its notebooks/src/*.md source
writes. What each notebook must show is checked in its own tests/test_tutorial_NN.py."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p.stem for p in (ROOT / "notebooks" / "src").glob("*.md"))


def test_notebooks_are_written_from_their_sources():
    proc = subprocess.run([sys.executable, "scripts/make_notebooks.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", [s for s in SOURCES if not s.startswith("00-")])
def test_tutorial_runs_without_errors(tutorial, name):
    nb = tutorial(name)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cells"
    for cell in code:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{name} cell {cell.id}: {errors[0]['ename']}: {errors[0]['evalue']}"
        assert cell.execution_count is not None, f"{name} cell {cell.id} did not run"


def numbers_in(text: str) -> list[float]:
    """Every decimal number in a text (for asserting that what a notebook prints is finite)."""
    return [float(m) for m in re.findall(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text)]


def output_text(cell, mime: str = "text/plain") -> str:
    """Everything a cell printed or displayed as `mime` (streams count as text/plain)."""
    parts = []
    for o in cell.outputs:
        if o.output_type == "stream" and mime == "text/plain":
            parts.append(o.text)
        elif o.output_type in ("display_data", "execute_result") and mime in o.data:
            parts.append(o.data[mime])
    return "".join(parts)


def code_cell(nb, containing: str):
    """The first code cell whose source contains `containing`."""
    cells = [c for c in nb.cells if c.cell_type == "code" and containing in c.source]
    assert cells, f"no code cell containing {containing!r}"
    return cells[0]


def cell_by_id(nb, cell_id: str):
    for c in nb.cells:
        if c.id == cell_id:
            return c
    raise AssertionError(f"no cell {cell_id!r}; ids: {[c.id for c in nb.cells]}")


def mimes(cell) -> set[str]:
    return {m for o in cell.outputs if o.output_type in ("display_data", "execute_result") for m in o.data}


def all_finite(values) -> bool:
    return all(math.isfinite(v) for v in values)
