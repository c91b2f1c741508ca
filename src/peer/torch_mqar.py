"""An independent PyTorch MQAR model, written from the README's model description: the kit's learn rates and
steps to 95% are checked against it (METRICS.md, "The MQAR peer"), and `npm run bench` times it as the
two-layer speed peer. Never a test dependency.

  MQAR: P = 8 (key, value) pairs as tokens k_1 v_1 … k_P v_P, then Q = 4 distinct queried keys; predict, at
  each query, the value that followed that key. Keys distinct (16), values with replacement (16), causal.
  x = token_emb + pos_emb (one table: keys, then values), d_model 16, one head, 2 layers, no MLP
  per layer: Q = x W_Q, V = x W_V, K = x W_K (qkv) | x W_V (qv) | x (qx) | x W_Q (qq); scores = Q Kᵀ/√d,
    causal; out = softmax · V; x = LayerNorm(x + out); the last layer only at the query positions
  logits = x W_unembed; cross-entropy at the Q query positions
  Adam (0.9, 0.999, 1e-8), linear warmup over 50 steps, batch 64, 1500 steps
  every 50 steps: eval loss, accuracy, attention entropy, max logit and retrieval mass on 512 fixed examples,
  and the global and per-projection gradient norms (the kit's logging)

Per run it prints one JSON line: attention, lr, seed, steps_to_acc (first logged step with eval accuracy
≥ 0.95, or null), final_eval_acc, best_eval_acc, final_eval_loss, steps_per_s.
Usage: python3 torch_mqar.py --attention qv --lr 3e-3 --seeds 0-19 [--steps 1500] [--float64]
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PAIRS, QUERIES, KEYS, VALUES, D, LAYERS = 8, 4, 16, 16, 16, 2
BATCH, WARMUP, LOG_EVERY, EVAL_SIZE, TARGET_ACC = 64, 50, 50, 512, 0.95
N = 2 * PAIRS + QUERIES


def sample(gen, n):
    """Token ids [n, N], targets [n, Q], source positions [n, Q] (the queried pair's value token)."""
    keys = torch.rand(n, KEYS, generator=gen).argsort(dim=1)[:, :PAIRS]  # distinct keys
    values = torch.randint(0, VALUES, (n, PAIRS), generator=gen)
    queried = torch.rand(n, PAIRS, generator=gen).argsort(dim=1)[:, :QUERIES]  # distinct pairs
    tokens = torch.empty(n, N, dtype=torch.long)
    tokens[:, 0:2 * PAIRS:2] = keys
    tokens[:, 1:2 * PAIRS:2] = KEYS + values
    tokens[:, 2 * PAIRS:] = keys.gather(1, queried)
    return tokens, values.gather(1, queried), 2 * queried + 1


class Mqar(nn.Module):
    def __init__(self, attention):
        super().__init__()
        self.attention = attention
        self.tok = nn.Embedding(KEYS + VALUES, D)
        self.pos = nn.Parameter(torch.randn(N, D))
        self.w_q = nn.ModuleList(nn.Linear(D, D, bias=False) for _ in range(LAYERS))
        self.w_k = nn.ModuleList(nn.Linear(D, D, bias=False) for _ in range(LAYERS)) if attention == 'qkv' else None
        self.w_v = nn.ModuleList(nn.Linear(D, D, bias=False) for _ in range(LAYERS))
        self.ln = nn.ModuleList(nn.LayerNorm(D) for _ in range(LAYERS))
        self.unembed = nn.Linear(D, VALUES, bias=False)
        self.register_buffer('mask', torch.full((N, N), float('-inf')).triu(1))

    def forward(self, tokens):
        x = self.tok(tokens) + self.pos  # (B, N, d)
        patterns = []
        for l in range(LAYERS):
            rows = slice(2 * PAIRS, N) if l == LAYERS - 1 else slice(0, N)
            xq = x[:, rows]  # (B, Nq, d)
            q, v = self.w_q[l](xq), self.w_v[l](x)
            k = {'qkv': lambda: self.w_k[l](x), 'qv': lambda: v, 'qx': lambda: x, 'qq': lambda: self.w_q[l](x)}[self.attention]()
            scores = q @ k.transpose(1, 2) / math.sqrt(D) + self.mask[rows]  # (B, Nq, N)
            weights = scores.softmax(-1)
            x = self.ln[l](xq + weights @ v)  # (B, Nq, d)
            patterns.append((weights, scores))
        return self.unembed(x), patterns  # (B, Q, VALUES)


def train(attention, lr, seed, steps, dtype):
    torch.manual_seed(seed)
    model = Mqar(attention).to(dtype)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / WARMUP))
    gen = torch.Generator().manual_seed(10_000 + seed)
    ev_tokens, ev_target, ev_source = sample(torch.Generator().manual_seed(1234), EVAL_SIZE)
    rows, started = [], time.perf_counter()
    for step in range(steps + 1):
        logged = step % LOG_EVERY == 0 or step == steps
        if logged:
            with torch.no_grad():
                logits, patterns = model(ev_tokens)
                weights, scores = patterns[-1]
                entropy = -(weights * weights.clamp_min(1e-30).log()).sum(-1)
                rows.append({
                    'step': step,
                    'eval_loss': F.cross_entropy(logits.reshape(-1, VALUES), ev_target.reshape(-1)).item(),
                    'eval_acc': (logits.argmax(-1) == ev_target).float().mean().item(),
                    'attn_entropy': entropy.mean().item(),
                    'attn_max_logit': scores.max().item(),
                    'retrieval_mass': weights.gather(2, ev_source[:, :, None]).mean().item(),
                })
        if step == steps:
            break
        tokens, target, _ = sample(gen, BATCH)
        logits, _ = model(tokens)
        loss = F.cross_entropy(logits.reshape(-1, VALUES), target.reshape(-1))
        opt.zero_grad()
        loss.backward()
        if logged:
            grads = {n: p.grad.norm().item() for n, p in model.named_parameters()}
            rows[-1].update(train_loss=loss.item(), grad_norm=math.sqrt(sum(g * g for g in grads.values())))
        opt.step()
        sched.step()
    elapsed = time.perf_counter() - started
    reached = [r['step'] for r in rows if r['eval_acc'] >= TARGET_ACC]
    return {'attention': attention, 'lr': lr, 'seed': seed, 'steps': steps,
            'steps_to_acc': reached[0] if reached else None, 'final_eval_acc': rows[-1]['eval_acc'],
            'best_eval_acc': max(r['eval_acc'] for r in rows), 'final_eval_loss': rows[-1]['eval_loss'],
            'steps_per_s': steps / elapsed, 'torch': torch.__version__, 'dtype': str(dtype).replace('torch.', '')}


def seed_list(text):
    out = []
    for part in text.split(','):
        lo, _, hi = part.partition('-')
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--attention', choices=['qkv', 'qv', 'qx', 'qq'], default='qkv')
    parser.add_argument('--lr', type=float, default=3e-3)
    parser.add_argument('--seeds', type=seed_list, default=[0])
    parser.add_argument('--steps', type=int, default=1500)
    parser.add_argument('--float64', action='store_true')
    args = parser.parse_args()
    torch.set_num_threads(1)
    for seed in args.seeds:
        print(json.dumps(train(args.attention, args.lr, seed, args.steps, torch.float64 if args.float64 else torch.float32)), flush=True)


if __name__ == '__main__':
    main()
