"""Writes tests/notebooks/display.ipynb, the notebook test_notebooks.py executes with nbclient
and with `tuna run`: one cell per kind of rich output (kept as a script so that the notebook's
source stays reviewable; run `python tests/notebooks/make_display.py` after editing)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kernel_client import rust_bytes, tiny_png  # noqa: E402

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24"><circle cx="12" cy="12" r="10" fill="teal"/></svg>'
TABLE = (
    "<table><thead><tr><th>tuning</th><th>accuracy</th></tr></thead>"
    "<tbody><tr><td>full</td><td>0.91</td></tr><tr><td>LoRA r=8</td><td>0.90</td></tr></tbody></table>"
)

CELLS = {
    "svg-mid-cell": f"""
println!("before the plot");
show(&Svg::new(r#"{SVG}"#));
println!("after the plot");
show(&LineChart::new("Loss").x_label("step").y_label("loss")
    .series("train", (0..20).map(|i| (i as f64, 1.0 / (1.0 + i as f64)))));
println!("after the chart");
""",
    "png": f"""
let png: Vec<u8> = {rust_bytes(tiny_png())};
show(&Png::new(png.clone()));
Png::new(png)
""",
    "html-table": f"""
Html::new("{TABLE}").plain("tuning accuracy")
""",
    "updated-50-times": """
let h = show(&Html::new("<b>step 0</b>").plain("step 0"));
for step in 1..=50 {
    h.update(&Html::new(format!("<b>step {step}</b>")).plain(format!("step {step}")));
}
println!("updated 50 times");
""",
    "shown-for-a-later-cell": """
let later = show(&Text("shown first".to_string()));
""",
    "updates-an-earlier-cell": """
later.update(&Text("replaced by a later cell".to_string()));
""",
    "clear-output": """
println!("this line is cleared");
clear_output(false);
println!("only this line remains");
""",
    "clear-output-wait": """
show(&Html::new("<i>old frame</i>"));
clear_output(true);
show(&Html::new("<i>new frame</i>"));
""",
    "markdown-and-json": """
show(&Markdown::new("**bold** and _italic_"));
show(&Json(r#"{"loss": 0.25, "steps": [1, 2, 3]}"#.parse().unwrap()));
""",
}


def build() -> nbformat.NotebookNode:
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "tuna", "display_name": "Rust (tuna)", "language": "rust"},
            "language_info": {"name": "rust", "file_extension": ".rs"},
        }
    )
    nb.cells.append(
        new_markdown_cell("Rich output from the tuna prelude, one kind per cell (tests/test_notebooks.py).", id="intro")
    )
    for cell_id, source in CELLS.items():
        nb.cells.append(new_code_cell(source.strip("\n"), id=cell_id))
    return nb


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("display.ipynb")
    nbformat.write(build(), str(out))
