"""notebooks/05-ablation: the sweep of full fine-tuning vs LoRA over training-set sizes and seeds
finishes, its table and CSV hold every trial with accuracies in range, the error-bar chart is
drawn, and successive halving names a winner among the candidates."""

from __future__ import annotations

import csv
import io
import re

from test_tutorials import code_cell, mimes, output_text

NB = "05-ablation"


def majority(nb) -> float:
    return float(re.search(r"majority-class accuracy: ([0-9.]+)", output_text(code_cell(nb, "class_counts"))).group(1))


def test_held_out_set_and_majority_rate(tutorial):
    nb = tutorial(NB)
    assert "image/svg+xml" in mimes(code_cell(nb, "held_out.histogram()"))
    assert 0.3 < majority(nb) < 0.6


def test_sweep_table_and_csv_hold_every_trial(tutorial):
    nb = tutorial(NB)
    table = output_text(code_cell(nb, "sweep.run"), "text/html")
    assert "8 trials" in table and "full fine-tuning" in table and "LoRA r=8" in table
    rows = list(csv.DictReader(io.StringIO(output_text(code_cell(nb, "results.csv")))))
    assert len(rows) == 8  # 2 arms x 2 sizes x 2 seeds in the quick run
    assert {r["arm"] for r in rows} == {"full fine-tuning", "LoRA r=8"}
    assert {int(r["size"]) for r in rows} == {32, 128}
    for r in rows:
        assert 0.0 <= float(r["accuracy"]) <= 1.0 and float(r["loss"]) > 0
    # Full fine-tuning on 128 tweets learns something: above the majority-class rate.
    full = [float(r["accuracy"]) for r in rows if r["arm"] == "full fine-tuning" and r["size"] == "128"]
    assert sum(full) / len(full) > majority(nb), full


def test_error_bar_chart(tutorial):
    svg = output_text(code_cell(tutorial(NB), 'results.chart("accuracy")?'), "image/svg+xml")
    assert "full fine-tuning" in svg and "LoRA r=8" in svg and "training examples" in svg


def test_successive_halving_names_a_winner(tutorial):
    text = output_text(code_cell(tutorial(NB), "Auto::new()"))
    best = re.search(r"best: (.+) \(([0-9.]+)\)", text)
    assert best, text
    assert best.group(1) in {"full fine-tuning", "LoRA r=8", "BitFit", "top 2 layers"}
    assert 0.0 <= float(best.group(2)) <= 1.0
