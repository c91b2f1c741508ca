"""PyTorch trained on the kit's draws: the peer model of torch_mqar.py, started from a kit run's initial parameters
and fed that run's training batches (both written by examples/dump-mqar-inputs.mjs), evaluated on the kit's fixed
eval set (data/mqar-p8-q4-k16-v16-n512-seed1234.jsonl) every 50 steps. If the two implementations compute the same
model, its steps to 95% equal the kit run's; a difference in learn rates between the two is then in the draws.
Prints one JSON line per run: attention, lr, seed, steps_to_acc, final_eval_acc.
Usage: python3 replay_mqar.py <eval .jsonl> <dump base> [<dump base> …]   (a base is <out dir>/<attention>-lr<lr>-seed<seed>)
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

import torch_mqar as peer


def eval_set(path):
    """The kit's eval examples, encoded as the kit encodes them: k1 v1 … k8 v8, then the queried keys."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    rows = [r for r in rows if 'keys' in r]  # the file's first line is its header
    tokens = [[t for i in range(peer.PAIRS) for t in (r['keys'][i], peer.KEYS + r['values'][i])] + [r['keys'][q] for q in r['queried']] for r in rows]
    return torch.tensor(tokens), torch.tensor([[r['values'][q] for q in r['queried']] for r in rows])


def replay(base, ev_tokens, ev_target):
    d = json.load(open(base + '.json'))
    shape = (-1, d['batchSize'])
    features = torch.from_numpy(np.fromfile(base + '.features.i32', dtype=np.int32).astype(np.int64)).reshape(*shape, peer.N)
    targets = torch.from_numpy(np.fromfile(base + '.targets.i32', dtype=np.int32).astype(np.int64)).reshape(*shape, peer.QUERIES)
    model = peer.Mqar(d['attention'])
    kit = lambda path: torch.tensor(d['params'][path]['values']).reshape(d['params'][path]['shape'])
    with torch.no_grad():  # the kit multiplies x·W; nn.Linear computes x·Wᵀ
        model.tok.weight.copy_(kit('embed/table'))
        model.pos.copy_(kit('embed/pos'))
        for l in range(peer.LAYERS):
            model.w_q[l].weight.copy_(kit(f'layer{l}/attn/w_q').T)
            model.w_v[l].weight.copy_(kit(f'layer{l}/attn/w_v').T)
            if d['attention'] == 'qkv':
                model.w_k[l].weight.copy_(kit(f'layer{l}/attn/w_k').T)
            model.ln[l].weight.copy_(kit(f'layer{l}/ln/gamma').reshape(-1))
            model.ln[l].bias.copy_(kit(f'layer{l}/ln/beta').reshape(-1))
        model.unembed.weight.copy_(kit('unembed/w').T)
    opt = torch.optim.Adam(model.parameters(), lr=d['lr'])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / d['warmup']))
    reached, acc = None, 0.0
    for step in range(d['steps'] + 1):
        if step % peer.LOG_EVERY == 0 or step == d['steps']:
            with torch.no_grad():
                acc = (model(ev_tokens)[0].argmax(-1) == ev_target).float().mean().item()
            if reached is None and acc >= peer.TARGET_ACC:
                reached = step
        if step == d['steps']:
            break
        logits, _ = model(features[step])
        loss = F.cross_entropy(logits.reshape(-1, peer.VALUES), targets[step].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return {'attention': d['attention'], 'lr': d['lr'], 'seed': d['seed'], 'steps_to_acc': reached, 'final_eval_acc': acc}


def main():
    torch.set_num_threads(1)
    ev_tokens, ev_target = eval_set(sys.argv[1])
    for base in sys.argv[2:]:
        print(json.dumps(replay(base, ev_tokens, ev_target)), flush=True)


if __name__ == '__main__':
    main()
