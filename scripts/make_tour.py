"""Writes notebooks/00-tour.ipynb (kept as a script so the notebook's source stays reviewable)."""
import json, sys

cells = []
def md(text): cells.append({"cell_type": "markdown", "metadata": {}, "source": text.strip("\n")})
def code(text, tags=None):
    meta = {"tags": tags} if tags else {}
    cells.append({"cell_type": "code", "metadata": meta, "execution_count": None, "outputs": [], "source": text.strip("\n")})

md("""
# A tour of tuna

tuna runs Rust cells on [evcxr](https://github.com/evcxr/evcxr) with libtorch (through `tch`) and
the tuna prelude already loaded: the kernel ran `use tuna::prelude::*;` for you. This notebook
shows tensors, displays that appear mid-cell and update in place, progress bars, and the stop
button.
""")
md("## Tensors on libtorch")
code("""
let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).reshape([2, 3]);
let b = a.matmul(&a.tr());
println!("a =\\n{a}");
println!("a·aᵀ =\\n{b}");
b.sum(Kind::Float).double_value(&[])
""")
code("""
let dev = device();
format!("device: {dev:?}; bf16 matrix units on this CPU: {}", cpu_has_bf16())
""")
md("""
## Plots appear where the cell draws them
`show` sends a display at the moment it is called, so text printed after it appears below it.
""")
code("""
let xs: Vec<f64> = (0..200).map(|i| i as f64 / 20.0).collect();
show(&LineChart::new("Two curves").x_label("x").y_label("y")
    .series("sin x", xs.iter().map(|&x| (x, x.sin())))
    .series("cos x / 2", xs.iter().map(|&x| (x, x.cos() / 2.0))));
println!("this line is printed after the plot");
""")
md("""
## Displays that update in place
A handle from `show` replaces its output wherever it is; a tight loop may update it thousands of
times, and the kernel sends at most ten updates a second (always ending on the last value).
""")
code("""
let status = show(&Html::new("<b>starting</b>"));
for step in 1..=50 {
    status.update(&Html::new(format!("<b>step {step} of 50</b>")));
    std::thread::sleep(std::time::Duration::from_millis(10));
}
""")
md("""
## Progress bars and the stop button
A loop over `progress(…)` draws a live bar. Press the stop button (■) while a cell runs: the
loop ends at its next step and every variable defined before stays. Loops you write yourself
stop too — the kernel inserts an interrupt check at the top of each loop body when it compiles
the cell.
""")
code("""
let mut total: u64 = 0;
for i in progress(0..3_000_000u64) {
    total += i % 7;
}
total
""")
code("""
// A loop that never calls the prelude: the stop button still ends it, keeping `total`.
let mut spins: u64 = 0;
while spins < 50_000_000 {
    spins += 1;
}
(total, spins)
""")
md("""
## Everything evcxr offers
evcxr's `:` commands work: `:vars` lists the notebook's variables, `:dep` adds a crate,
`:timing` shows how long each cell took, `:help` lists the rest.
""")
code(":vars")

nb = {
    "cells": cells,
    "metadata": {
        "kernelspec": {"name": "tuna", "display_name": "Rust (tuna)", "language": "rust"},
        "language_info": {"name": "rust", "file_extension": ".rs", "mimetype": "text/rust", "codemirror_mode": "rust", "pygments_lexer": "rust"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
for i, c in enumerate(nb["cells"]):
    c["id"] = f"tour-{i:02d}"
out = sys.argv[1] if len(sys.argv) > 1 else "notebooks/00-tour.ipynb"
with open(out, "w") as f:
    json.dump(nb, f, indent=1, ensure_ascii=False)
    f.write("\n")
