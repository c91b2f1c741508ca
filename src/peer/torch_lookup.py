"""The PyTorch peer of qkv-lab's default run, for `npm run bench` only (never a test dependency).

It trains the same model on the same task with the same logging, written the way a PyTorch user would
write it: a plain per-run loop, textbook attention with full Q, K and V projections of every token.

  lookup: 8 (key, value) slots + a query slot holding the queried key; predict the queried key's value
  x = key_emb + value_emb + pos_emb (query slot: key_emb + query_emb + pos_emb), d_model 8, one head
  Q, K, V = x W_Q, x W_K, x W_V (keyless: K = V); scores = Q Kᵀ / √d; softmax; out = weights · V
  z = LayerNorm(x_query + out_query); logits = z W_unembed; cross-entropy at the query slot
  Adam (0.9, 0.999, 1e-8), lr 1e-2 with 50 warmup steps; batch 128
  every 20 steps: eval loss, accuracy, attention entropy (raw and normalised), max attention logit and
  retrieval mass on 512 fixed examples, plus the global and per-projection gradient norms

It prints one JSON line: {"steps_per_s": …, "steps": …, "threads": 1, "torch": version}.
Usage: python3 torch_lookup.py [--steps 400] [--attention qkv|qv]
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SLOTS, KEYS, VALUES, D, BATCH, LR, WARMUP, LOG_EVERY, EVAL_SIZE = 8, 16, 16, 8, 128, 1e-2, 50, 20, 512


def sample(gen, n):
    keys = torch.rand(n, KEYS, generator=gen).argsort(dim=1)[:, :SLOTS]
    values = torch.randint(0, VALUES, (n, SLOTS), generator=gen)
    slot = torch.randint(0, SLOTS, (n,), generator=gen)
    query = keys.gather(1, slot[:, None])
    return keys, values, query, slot, values.gather(1, slot[:, None])[:, 0]


class Lookup(nn.Module):
    def __init__(self, keyless):
        super().__init__()
        self.keyless = keyless
        self.key_emb = nn.Embedding(KEYS, D)
        self.value_emb = nn.Embedding(VALUES, D)
        self.query_emb = nn.Parameter(torch.randn(D))
        self.pos_emb = nn.Embedding(SLOTS + 1, D)
        self.w_q = nn.Linear(D, D, bias=False)
        self.w_k = None if keyless else nn.Linear(D, D, bias=False)
        self.w_v = nn.Linear(D, D, bias=False)
        self.ln = nn.LayerNorm(D)
        self.unembed = nn.Linear(D, VALUES, bias=False)

    def forward(self, keys, values, query):
        slots = self.key_emb(keys) + self.value_emb(values)  # (B, N, d)
        q_slot = self.key_emb(query) + self.query_emb  # (B, 1, d)
        x = torch.cat([slots, q_slot], dim=1) + self.pos_emb.weight  # (B, N+1, d)
        q, v = self.w_q(x), self.w_v(x)
        k = v if self.keyless else self.w_k(x)
        logits = torch.bmm(q, k.transpose(1, 2)) / math.sqrt(D)  # (B, N+1, N+1)
        weights = logits.softmax(dim=-1)
        out = torch.bmm(weights, v)
        z = self.ln(x[:, -1] + out[:, -1])
        return self.unembed(z), weights[:, -1], logits[:, -1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--steps', type=int, default=400)
    parser.add_argument('--attention', choices=['qkv', 'qv'], default='qkv')
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = Lookup(args.attention == 'qv')
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / WARMUP))
    ev_keys, ev_values, ev_query, ev_slot, ev_target = sample(torch.Generator().manual_seed(1234), EVAL_SIZE)
    rows = []
    started = time.perf_counter()
    for step in range(args.steps + 1):
        if step % LOG_EVERY == 0 or step == args.steps:
            with torch.no_grad():
                logits, weights, scores = model(ev_keys, ev_values, ev_query)
                entropy = -(weights * weights.clamp_min(1e-30).log()).sum(-1)
                rows.append({
                    'eval_loss': F.cross_entropy(logits, ev_target).item(),
                    'eval_acc': (logits.argmax(-1) == ev_target).float().mean().item(),
                    'attn_entropy': entropy.mean().item(),
                    'attn_entropy_norm': (entropy / math.log(SLOTS + 1)).mean().item(),
                    'attn_max_logit': scores.max().item(),
                    'retrieval_mass': weights.gather(1, ev_slot[:, None]).mean().item(),
                })
        keys, values, query, _, target = sample(gen, BATCH)
        logits, _, _ = model(keys, values, query)
        loss = F.cross_entropy(logits, target)
        opt.zero_grad()
        loss.backward()
        if step % LOG_EVERY == 0 or step == args.steps:
            grads = {n: p.grad.norm().item() for n, p in model.named_parameters()}
            rows[-1].update(train_loss=loss.item(), grad_norm=math.sqrt(sum(g * g for g in grads.values())))
        if step < args.steps:
            opt.step()
            sched.step()
    elapsed = time.perf_counter() - started
    print(json.dumps({'steps_per_s': args.steps / elapsed, 'steps': args.steps, 'threads': torch.get_num_threads(),
                      'torch': torch.__version__, 'final_eval_loss': rows[-1]['eval_loss']}))


if __name__ == '__main__':
    main()
