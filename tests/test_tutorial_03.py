"""notebooks/03-sentiment: MiniLM fine-tuned on the tweets six ways (full, partial, BitFit, LoRA,
bottleneck adapters, prompt tuning) — each prints PEFT's trainable-parameter line and an accuracy,
the comparison table and accuracy chart, the LoRA confusion matrix, and the LoRA adapter in PEFT's
files."""

from __future__ import annotations

import json
import math
import re

from test_tutorials import code_cell, mimes, output_text

NB = "03-sentiment"
STRATEGIES = ["full", "partial", "BitFit", "LoRA", "Pfeiffer adapters", "prompt tuning"]


def test_every_strategy_trains_and_reports_its_parameters(tutorial):
    nb = tutorial(NB)
    text = output_text(code_cell(nb, "for (name, strategy, lr) in &strategies"))
    lines = re.findall(r"^(.*?): trainable params: ([\d,]+) \|\| all params: ([\d,]+) \|\| trainable%: ([0-9.]+)$", text, re.M)
    assert [any(n.startswith(s) for s in STRATEGIES) for n, *_ in lines] == [True] * 6, text
    counts = {n.split(" ")[0]: (int(t.replace(",", "")), int(a.replace(",", ""))) for n, t, a, _ in lines}
    # Full trains everything (MiniLM-L6 with a 3-way head); the others far less.
    assert counts["full"][0] == counts["full"][1] and 22_000_000 < counts["full"][0] < 23_000_000
    for name in ["BitFit", "LoRA", "Pfeiffer", "prompt"]:
        assert 0 < counts[name][0] < counts["full"][0] / 50, (name, counts[name])
    accuracies = [float(a) for a in re.findall(r"validation accuracy ([0-9.]+)", text)]
    assert len(accuracies) == 6 and all(0.0 <= a <= 1.0 for a in accuracies), accuracies


def test_comparison_table_chart_and_confusion_matrix(tutorial):
    nb = tutorial(NB)
    cell = code_cell(nb, "BarChart::new")
    assert "image/svg+xml" in mimes(cell)
    table = [o for o in cell.outputs if o.output_type == "display_data" and "text/html" in o.data][0].data["text/html"]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td><td>([0-9.]+)</td><td>([0-9.]+)</td><td>([0-9.]+|NaN)</td></tr>", table)
    assert len(rows) == 6, table
    for _, trainable, percent, acc, _ in rows:
        assert 0 < float(percent) <= 100 and 0 <= float(acc) <= 1 and int(trainable) > 0
    confusion = code_cell(nb, "ConfusionChart::from_metrics")
    assert "image/svg+xml" in mimes(confusion)
    svg = confusion.outputs[-1].data["image/svg+xml"]
    assert all(label in svg for label in ["negative", "neutral", "positive"])


def test_the_lora_adapter_is_saved_in_peft_format(tutorial):
    nb = tutorial(NB)
    text = output_text(code_cell(nb, "save_adapter"))
    n = int(re.search(r"(\d+) tensors, e\.g\. base_model\.model\.", text).group(1))
    # 6 layers × (query, value) × (A, B) and the classifier copy's weight and bias.
    assert n == 6 * 2 * 2 + 2, text
    config = json.loads(text[text.index("{"):])
    assert config["peft_type"] == "LORA" and config["r"] == 8 and math.isclose(config["lora_alpha"], 16.0)
    assert sorted(config["target_modules"]) == ["query", "value"] and config["modules_to_save"] == ["classifier"]
