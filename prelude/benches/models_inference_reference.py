"""Python reference for benches/models_inference.rs: hf_baseline.py's `infer` task (MiniLM-L6,
BertForSequenceClassification with 3 labels, batch 32 padded to 64 tokens, 3 warm-up and 20
timed batches, inference_mode) plus the CPU time per batch, which shared machines distort far
less than wall time.

Usage: $TUNA_VENV/bin/python models_inference_reference.py MODEL_DIR TWEETS_CSV [THREADS]
"""
import csv, json, resource, sys, time
import torch
from transformers import AutoTokenizer, BertForSequenceClassification

model_dir, csv_path = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
torch.set_num_threads(threads)
tok = AutoTokenizer.from_pretrained(model_dir)
texts = []
with open(csv_path, encoding="utf-8", errors="replace") as f:
    r = csv.reader(f)
    next(r)
    for row in r:
        if len(row) >= 3 and row[0].strip() in ("negative", "neutral", "positive"):
            texts.append(row[2])
        if len(texts) >= 4096:
            break
bs, seq = 32, 64
batches = [tok(texts[i:i + bs], padding="max_length", truncation=True, max_length=seq, return_tensors="pt")
           for i in range(0, 23 * bs, bs)]
m = BertForSequenceClassification.from_pretrained(model_dir, num_labels=3).eval()


def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


with torch.inference_mode():
    for b in batches[:3]:
        m(**b)
    t, c = time.perf_counter(), cpu()
    for b in batches[3:]:
        m(**b).logits.sum().item()
    n = len(batches) - 3
    step, cpu_step = (time.perf_counter() - t) / n, (cpu() - c) / n
print(json.dumps({"task": "inference", "impl": "transformers", "threads": threads, "step_s": round(step, 4),
                  "samples_per_s": round(bs / step, 2), "tokens_per_s": round(bs * seq / step, 1),
                  "cpu_s_per_step": round(cpu_step, 4)}), flush=True)
