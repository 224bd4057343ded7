"""The loss ladder (lesson 09d): train every rung on tinyshakespeare with one budget and record the table.

Each rung adds one component to the one before (uniform guess -> bigram -> one attention head -> multi-head
-> feed-forward -> a stack of blocks -> residual connections -> LayerNorm -> wider with dropout); all share the
steps, batch, context, schedule and seeds of `LadderBudget()`. Writes a JSON with, per rung, the final
validation and training loss, the loss curves, the parameter count, wall and CPU seconds, tokens/s and a
200-character sample, plus the budget and the machine.

Usage (from the repository root):
    python bench/ladder.py                          # the recorded run -> bench/ladder_results.json
    python bench/ladder.py --ladder modern --out bench/ladder_modern_results.json   # lesson 09e's rungs
    python bench/ladder.py --steps 20 --out /tmp/ladder.json   # a quick smoke test of the wiring
The corpus is $TINY_TRANSFORMER_DATA, else shared/data/tinyshakespeare.txt one or two folders above the repository
root when it exists, else the cache / a download (see `tinyshakespeare_path`).
"""
import argparse, dataclasses, datetime, json, os, platform, sys, time
from pathlib import Path
import torch
from tiny_transformer.data import DATA_ENV, load_corpus
from tiny_transformer.files import atomic_write, package_version
from tiny_transformer.ladder import LADDER, LadderBudget, ladder_table, run_ladder
from tiny_transformer.modern import MODERN_LADDER, kv_cache_bytes

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = [p / 'shared' / 'data' / 'tinyshakespeare.txt' for p in REPO.parents[:2]]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default=str(REPO / 'bench' / 'ladder_results.json'),
                   help='where to write the JSON')
    p.add_argument('--threads', type=int, default=1,
                   help='torch.set_num_threads (1: CPU time independent of load)')
    p.add_argument('--steps', type=int, default=None, help="override the budget's steps (smoke tests)")
    p.add_argument('--rungs', default=None, help='comma-separated rung names (default: all)')
    p.add_argument('--ladder', default='course', choices=['course', 'modern'],
                   help="09d's rungs (course) or 09e's (modern: GPT-2 -> RMSNorm -> ... -> Muon)")
    p.add_argument('--seed', type=int, default=None, help="override the budget's seed")
    p.add_argument('--corpus', default='tinyshakespeare',
                   help="load_corpus name or path (tests use 'shakespeare')")
    return p.parse_args(argv)


def machine()->dict:
    "What the numbers were measured on."
    return dict(python=platform.python_version(), torch=torch.__version__,
                cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
                threads=torch.get_num_threads(), platform=platform.platform(),
                tiny_transformer=package_version())


def log(r:dict):
    "One line per finished rung."
    print(f"{r['name']:>11}  val {r['val_loss']:.3f}  train {r['train_loss']:.3f}  "
          f"params {r['params']:>9,}  {r.get('train_s', 0):6.1f} s wall  {r.get('cpu_s', 0):6.1f} s CPU  "
          f"load {os.getloadavg()[0]:.1f}", flush=True)


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    shared = [p for p in SHARED_DATA if p.is_file()]
    if DATA_ENV not in os.environ and shared: os.environ[DATA_ENV] = str(shared[0])
    budget = LadderBudget()
    if a.steps is not None:
        budget = dataclasses.replace(budget, steps=a.steps, eval_interval=max(1, a.steps // 10),
                                     warmup_steps=min(50, a.steps))
    if a.seed is not None: budget = dataclasses.replace(budget, seed=a.seed)
    ladder = MODERN_LADDER if a.ladder == 'modern' else LADDER
    known = [r.name for r in ladder]
    names = a.rungs.split(',') if a.rungs else known
    if unknown := [n for n in names if n not in known]:
        sys.exit(f"unknown rung(s) {unknown}; expected names from {known}")
    rungs = tuple(r for r in ladder if r.name in names)
    load_before, t0 = os.getloadavg(), time.perf_counter()
    results = run_ladder(load_corpus(a.corpus), budget, rungs, log=log)
    for rung, r in zip(rungs, results['rungs']):  # the KV cache of one full context, fp32
        if rung.kind == 'blocks':
            r['kv_cache_bytes'] = kv_cache_bytes(budget.model_config(rung, results['vocab_size']))
    args = argv if argv is not None else sys.argv[1:]
    results.update(command=' '.join(['python', 'bench/ladder.py', *args]), machine=machine(),
                   date=datetime.datetime.now().isoformat(timespec='seconds'),
                   wall_s=time.perf_counter() - t0, load_avg_start=load_before,
                   load_avg_end=os.getloadavg())
    atomic_write(a.out, lambda f: f.write(json.dumps(results, indent=1).encode()))
    print(ladder_table(results))
    print(f"\nwall {results['wall_s']:.0f} s; load average {load_before[0]:.1f} at the start, "
          f"{results['load_avg_end'][0]:.1f} at the end; wrote {a.out}")


if __name__ == '__main__': main()
