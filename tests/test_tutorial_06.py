"""notebooks/06-explain: attention maps of the real MiniLM (6 layers × 12 heads), a MiniLM
sentiment classifier fine-tuned on the tweets whose integrated-gradient attributions add up to
the change in the logit, and saliency maps of a small ViT trained on MNIST digits."""

from __future__ import annotations

import re

from test_tutorials import code_cell, mimes, numbers_in, output_text

NB = "06-explain"


def svg(cell) -> str:
    return output_text(cell, "image/svg+xml")


def test_minilm_attention_grid_and_single_heads(tutorial):
    nb = tutorial(NB)
    grid = code_cell(nb, "bert_attentions(&encoder.bert")
    assert "6 layers × 12 heads over" in output_text(grid)
    assert "image/svg+xml" in mimes(grid)
    drawing = svg(grid)
    assert drawing.count("<image") == 72, "one tile per layer × head"
    assert "layer 5" in drawing and "head 11" in drawing and "self" in drawing
    head = svg(code_cell(nb, "attentions.head(1, 5)"))
    assert "layer 1, head 5" in head and "[CLS]" in head and "child" in head
    assert "mean over heads" in svg(code_cell(nb, "attentions.layer_mean(5)"))


def test_classifier_trains_and_attributions_are_complete(tutorial):
    nb = tutorial(NB)
    assert "image/svg+xml" in mimes(code_cell(nb, "trainer.fit"))
    ev = code_cell(nb, "trainer.evaluate")
    acc, majority = map(float, re.search(r"validation accuracy ([0-9.]+) \(majority class ([0-9.]+)\)", output_text(ev)).groups())
    assert 0.0 < majority < 1.0 and 0.0 <= acc <= 1.0
    confusion = svg(ev)
    for name in ["negative", "neutral", "positive", "predicted", "true"]:
        assert name in confusion

    ig = code_cell(nb, "bert_integrated_gradients")
    htmls = [o.data["text/html"] for o in ig.outputs if o.output_type == "display_data" and "text/html" in o.data]
    assert len(htmls) == 3, "one attribution display per example"
    assert "autonomous" in htmls[0] and "background:rgb(" in htmls[0]
    gaps = re.findall(r"\|Σ attributions − Δlogit\| = ([0-9.eE+-]+) for Δlogit = ([0-9.eE+-]+)", output_text(ig))
    assert len(gaps) == 3
    for gap, delta in gaps:
        gap, delta = float(gap), float(delta)
        # Completeness up to the quadrature error of 16 trapezoid steps.
        assert gap <= 0.05 * delta + 1e-3, f"gap {gap} for Δ {delta}"
    assert "image/svg+xml" in mimes(code_cell(nb, "examples[1]"))


def test_vit_learns_digits_and_saliency_maps_render(tutorial):
    nb = tutorial(NB)
    fit = code_cell(nb, "vit_trainer.fit")
    acc = float(re.search(r"test accuracy ([0-9.]+)", output_text(fit)).group(1))
    assert acc > 0.15, f"10 classes, chance 0.1: {acc}"
    roc = svg(fit)
    aucs = [float(a) for a in re.findall(r"AUC ([0-9.]+)\)", roc)]
    assert len(aucs) == 3 and all(0.5 < a <= 1.0 for a in aucs[1:]), aucs  # chance line + 2 digits

    grid = svg(code_cell(nb, "ImageGrid::new"))
    assert grid.count("<image") == 8 and "pred " in grid and "true " in grid
    vanilla = svg(code_cell(nb, "vanilla_gradient"))
    assert vanilla.count("<image") == 12 and "vanilla gradient" in vanilla
    ig = code_cell(nb, "image_integrated_gradients")
    assert svg(ig).count("<image") == 12
    total, delta = map(float, re.search(r"Σ attributions ([0-9.eE+-]+) vs logit\(digit\) − logit\(black\) ([0-9.eE+-]+)", output_text(ig)).groups())
    assert abs(total - delta) <= 0.1 * abs(delta) + 0.05, f"{total} vs {delta}"
    assert all(map(lambda v: v == v, numbers_in(output_text(ig))))
