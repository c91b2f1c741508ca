"""The kit's MQAR runs against the PyTorch peer's (torch_mqar.py), per learning rate and variant: the fraction
of runs that reached 95% eval accuracy in each implementation, a two-sided Fisher exact test of the two fractions
(Holm across the cells), and the median steps to 95% over the runs that got there. Prints a Markdown table.

Usage: python3 compare_mqar.py <kit sweep dir> <peer .jsonl> [<peer .jsonl> …]
  the kit: npx qkv-lab sweep configs/mqar-peer.yaml --out runs/mqar-peer-kit
  the peer: python3 torch_mqar.py --attention qv --lr 3e-3 --seeds 0-19 >> qv.jsonl (per variant and rate)
"""
import json
import os
import statistics
import sys

from scipy.stats import fisher_exact


def kit_runs(sweep_dir):
    for name in sorted(os.listdir(sweep_dir)):
        run = os.path.join(sweep_dir, name)
        if not os.path.exists(os.path.join(run, 'summary.json')):
            continue
        config = json.load(open(os.path.join(run, 'config.json')))
        summary = json.load(open(os.path.join(run, 'summary.json')))
        yield config['model']['attention'], config['train']['lr'], config['train']['seed'], summary.get('steps_to_acc')


def peer_runs(paths):
    for path in paths:
        for line in open(path):
            if line.strip():
                r = json.loads(line)
                yield r['attention'], r['lr'], r['seed'], r['steps_to_acc']


def cells(runs):
    out = {}
    for attention, lr, _seed, steps in runs:
        out.setdefault((attention, float(lr)), []).append(steps)
    return out


def holm(ps):
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    adjusted, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def median_text(steps):
    reached = [s for s in steps if s is not None]
    return f'{statistics.median(reached):g}' if reached else 'never'


def main():
    kit, peer = cells(kit_runs(sys.argv[1])), cells(peer_runs(sys.argv[2:]))
    keys = sorted(set(kit) & set(peer), key=lambda k: (k[1], k[0]))
    rows, ps = [], []
    for key in keys:
        a, b = kit[key], peer[key]
        ka, kb = sum(s is not None for s in a), sum(s is not None for s in b)
        p = fisher_exact([[ka, len(a) - ka], [kb, len(b) - kb]])[1]
        ps.append(p)
        rows.append((key, ka, len(a), kb, len(b), p, median_text(a), median_text(b)))
    print('| lr | variant | kit: reached 95% | PyTorch: reached 95% | Fisher p (two-sided) | p (Holm) | kit: median steps to 95% | PyTorch: median steps to 95% |')
    print('|---|---|---|---|---|---|---|---|')
    for (row, p_holm) in zip(rows, holm(ps)):
        (attention, lr), ka, na, kb, nb, p, ma, mb = row
        print(f'| {lr:g} | {attention} | {ka}/{na} | {kb}/{nb} | {p:.3g} | {p_holm:.3g} | {ma} | {mb} |')
    for attention in sorted({k[0] for k in keys}):
        a = [s for k in keys if k[0] == attention for s in kit[k]]
        b = [s for k in keys if k[0] == attention for s in peer[k]]
        ka, kb = sum(s is not None for s in a), sum(s is not None for s in b)
        print(f'\n{attention}, all rates: kit {ka}/{len(a)}, PyTorch {kb}/{len(b)}, Fisher p {fisher_exact([[ka, len(a) - ka], [kb, len(b) - kb]])[1]:.3g}')


if __name__ == '__main__':
    main()
