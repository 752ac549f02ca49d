"""notebooks/02-causal-lm: a GPT-2 trained from scratch on the Bible learns (held-out perplexity
well below the vocabulary size a uniform guess would score), draws its loss curve, and samples
with each decoding method."""

from __future__ import annotations

import re

from test_tutorials import cell_by_id, code_cell, mimes, output_text

NB = "02-causal-lm"


def test_corpus_and_tokenizer(tutorial):
    nb = tutorial(NB)
    text = output_text(code_cell(nb, "train_bpe"))
    assert "31102 verses; the first: In the beginning God created the heaven and the earth." in text
    assert re.search(r"vocabulary: \d+ tokens", text)
    assert "text/html" in mimes(code_cell(nb, "train_bpe"))


def test_training_draws_the_loss_and_perplexity_beats_a_uniform_guess(tutorial):
    nb = tutorial(NB)
    vocab = int(re.search(r"vocabulary: (\d+) tokens", output_text(code_cell(nb, "train_bpe"))).group(1))
    train = code_cell(nb, "trainer.fit")
    assert "image/svg+xml" in mimes(train)
    bar = output_text(train, "text/plain")
    done = re.search(r"100% (\d+)/(\d+)", bar)
    assert done and done.group(1) == done.group(2), bar[-500:]
    evaluation = output_text(code_cell(nb, "trainer.evaluate"))
    perplexity = float(re.search(r"perplexity: ([0-9.]+)", evaluation).group(1))
    assert 1.0 < perplexity < vocab / 2, f"held-out perplexity {perplexity} vs vocabulary {vocab}"


def test_each_sampler_continues_the_prompt(tutorial):
    text = output_text(code_cell(tutorial(NB), "Generation::greedy"))
    for name in ["greedy", "temperature 0.7", "top-k 20", "top-p 0.9"]:
        assert f"── {name}\nAnd God said" in text, text
