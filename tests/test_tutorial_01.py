"""notebooks/01-pretrain-mlm: a WordPiece vocabulary and a BERT pretrained from scratch on the
Wikipedia text (loss curve, held-out evaluation, fill-mask tables), then continued masked-LM
pretraining of MiniLM that lowers its held-out loss."""

from __future__ import annotations

import math
import re

from test_tutorials import code_cell, mimes, output_text

NB = "01-pretrain-mlm"


def test_corpus_and_wordpiece(tutorial):
    nb = tutorial(NB)
    cell = code_cell(nb, "train_wordpiece")
    assert re.search(r"106 articles, \d+ words of clean text", output_text(cell))
    assert "[CLS]" in output_text(cell) and "text/html" in mimes(cell)


def test_pretraining_from_scratch(tutorial):
    nb = tutorial(NB)
    train = code_cell(nb, "scratch.fit")
    assert "image/svg+xml" in mimes(train)
    done = re.search(r"100% (\d+)/(\d+)", output_text(train))
    assert done and done.group(1) == done.group(2)
    evaluation = output_text(code_cell(nb, "scratch.evaluate"))
    assert math.isfinite(float(re.search(r"perplexity: ([0-9.]+)", evaluation).group(1)))
    fills = [o for o in code_cell(nb, "scratch.model().fill_mask").outputs if o.output_type == "display_data"]
    assert len(fills) == 3
    for o in fills:
        probs = [float(p) for p in re.findall(r"<td>([01]\.\d{3})</td>", o.data["text/html"])]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True)


def test_continued_pretraining_of_minilm_lowers_the_held_out_loss(tutorial):
    nb = tutorial(NB)
    report = output_text(code_cell(nb, "load_report"))
    assert "newly initialised" in report and "cls.predictions.transform.dense.weight" in report
    text = output_text(code_cell(nb, "continued.fit"))
    before, after = map(float, re.search(r"held-out masked-LM loss: ([0-9.]+) before, ([0-9.]+) after", text).groups())
    assert after < before, (before, after)
    assert "text/html" in mimes(code_cell(nb, "continued.model().fill_mask"))
