"""Writes notebooks/NN-name.ipynb from notebooks/src/NN-name.md, so that a tutorial's source is
plain, reviewable text: every ```rust fence becomes a code cell, the text between fences a
markdown cell. Cell ids are `name-NN` (`tour-05`), stable across edits that do not reorder cells,
so tests can find a cell by id.

    python scripts/make_notebooks.py            # every notebooks/src/*.md
    python scripts/make_notebooks.py 03-sentiment
    python scripts/make_notebooks.py --check    # fails when an .ipynb is out of date
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC, OUT = ROOT / "notebooks" / "src", ROOT / "notebooks"
FENCE = re.compile(r"^```rust[ \t]*\n(.*?)^```[ \t]*$\n?", re.S | re.M)
METADATA = {
    "kernelspec": {"name": "tuna", "display_name": "Rust (tuna)", "language": "rust"},
    "language_info": {"name": "rust", "file_extension": ".rs", "mimetype": "text/rust",
                      "codemirror_mode": "rust", "pygments_lexer": "rust"},
}


def cells_of(text: str) -> list[dict]:
    cells, at = [], 0

    def markdown(chunk: str) -> None:
        chunk = chunk.strip("\n")
        if chunk.strip():
            cells.append({"cell_type": "markdown", "metadata": {}, "source": chunk})

    for fence in FENCE.finditer(text):
        markdown(text[at:fence.start()])
        cells.append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                      "source": fence.group(1).strip("\n")})
        at = fence.end()
    markdown(text[at:])
    return cells


def notebook_of(src: Path) -> str:
    cells = cells_of(src.read_text())
    prefix = src.stem.split("-", 1)[-1].split("-")[0]
    for i, cell in enumerate(cells):
        cell["id"] = f"{prefix}-{i:02d}"
    nb = {"cells": cells, "metadata": METADATA, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(args: list[str]) -> int:
    check = "--check" in args
    names = [a for a in args if not a.startswith("--")]
    sources = [SRC / f"{n}.md" for n in names] if names else sorted(SRC.glob("*.md"))
    stale = []
    for src in sources:
        if not src.exists():
            print(f"no notebook source {src}", file=sys.stderr)
            return 2
        target, text = OUT / f"{src.stem}.ipynb", notebook_of(src)
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        else:
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print(f"out of date (run python scripts/make_notebooks.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
