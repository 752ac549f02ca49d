"""Training fidelity, the Python side (issue 5): MiniLM-L6 full fine-tuning on the tweets
(3 classes) as Hugging Face `Trainer` runs it (written out in torch: the venv has no numpy,
which `Trainer` needs): 1,000 training examples, batch 32, truncation to 64
tokens (each batch padded to its longest row, DataCollatorWithPadding), 3 epochs, AdamW lr 5e-5
with linear decay and no warmup (TrainingArguments' defaults otherwise: no weight decay, gradient
clipping at 1.0, seed 42, a shuffled order each epoch), then accuracy on a fixed held-out 2,000. tuna runs the same protocol in
prelude/examples/fidelity.rs; both read the split from benches/fidelity_split.json, which this
script writes on first use (rows of the CSV in reading order, a torch.randperm with seed 0).

Usage: python benches/fidelity_hf.py MODEL_DIR TWEETS_CSV   → one JSON line with the accuracy.
"""
import csv, json, os, sys, time

import torch
from transformers import AutoTokenizer, BertForSequenceClassification, DataCollatorWithPadding, get_linear_schedule_with_warmup

torch.set_num_threads(int(os.environ.get("TUNA_BENCH_THREADS", "2")))
MODEL, CSV = sys.argv[1], sys.argv[2]
SPLIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fidelity_split.json")
LABELS = {"negative": 0, "neutral": 1, "positive": 2}

texts, labels = [], []
with open(CSV, encoding="utf-8", errors="replace") as f:
    r = csv.reader(f)
    next(r)
    for row in r:
        if len(row) < 3 or row[0].strip() not in LABELS:
            continue
        texts.append(row[2]); labels.append(LABELS[row[0].strip()])

if not os.path.exists(SPLIT):
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(0))
    json.dump({"rows": len(texts), "train": order[:1000].tolist(), "test": order[1000:3000].tolist()}, open(SPLIT, "w"))
split = json.load(open(SPLIT))
assert split["rows"] == len(texts), f"{CSV}: {len(texts)} labelled rows, the split was drawn from {split['rows']}"

tok = AutoTokenizer.from_pretrained(MODEL)

def encode(idx):
    enc = tok([texts[i] for i in idx], truncation=True, max_length=64)
    return [{"input_ids": enc["input_ids"][j], "token_type_ids": enc["token_type_ids"][j],
             "attention_mask": enc["attention_mask"][j], "labels": labels[i]} for j, i in enumerate(idx)]

train, test = encode(split["train"]), encode(split["test"])
collate = DataCollatorWithPadding(tok)
torch.manual_seed(42)
model = BertForSequenceClassification.from_pretrained(MODEL, num_labels=3)
EPOCHS, BATCH = 3, 32
steps = EPOCHS * ((len(train) + BATCH - 1) // BATCH)
opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.0)
sched = get_linear_schedule_with_warmup(opt, 0, steps)
t = time.time()
losses = []
model.train()
for epoch in range(EPOCHS):
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(42 + epoch)).tolist()
    for b in range(0, len(order), BATCH):
        batch = collate([train[i] for i in order[b:b + BATCH]])
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); sched.step(); opt.zero_grad()
        losses.append(loss.item())
model.eval()
right = 0
with torch.inference_mode():
    for b in range(0, len(test), 64):
        batch = collate(test[b:b + 64])
        right += int((model(**batch).logits.argmax(-1) == batch["labels"]).sum())
acc = right / len(test)
print(json.dumps({"name": "fidelity", "impl": "python", "accuracy": round(acc, 4), "first_loss": round(losses[0], 4),
                  "last_loss": round(sum(losses[-10:]) / 10, 4), "steps": len(losses), "seconds": round(time.time() - t, 1)}), flush=True)
