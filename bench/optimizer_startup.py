"""Start-up cost of the first optimizer of a process, and what imports torch._dynamo (issue 8 item 5).

    python bench/optimizer_startup.py            # one fresh interpreter per measurement, 3 repeats

Each measurement runs in a new Python process and prints, in seconds: `import torch`, `import tiny_transformer`,
building the first AdamW (`make_optimizer`), its first `step()`, building a `Trainer`, and whether `torch._dynamo`
was imported after each stage. `generate`-style use (import + load a model + forward) is measured too: it must not
import torch._dynamo at all.
"""
import json, statistics, subprocess, sys

CHILD = r'''
import json, sys, time
t = {}; s = time.perf_counter()
import torch; t['import_torch'] = time.perf_counter() - s
s = time.perf_counter(); import tiny_transformer as tt; t['import_tiny_transformer'] = time.perf_counter() - s
from tiny_transformer.env import evaluating
from tiny_transformer.training import make_optimizer
dyn = lambda: 'torch._dynamo' in sys.modules
t['dynamo_after_import'] = dyn()
torch.set_num_threads(1)
model = tt.TinyTransformer(tt.ModelConfig(vocab_size=69, d_model=128, n_heads=4, n_layers=4, max_len=64))
with evaluating(model): model(torch.randint(0, 69, (1, 8)))
t['dynamo_after_forward'] = dyn()
if sys.argv[1] == 'train':
    s = time.perf_counter(); opt = make_optimizer(model, tt.TrainConfig(), 'cpu'); t['first_adamw'] = time.perf_counter() - s
    t['dynamo_after_adamw'] = dyn()
    model(torch.randint(0, 69, (2, 8)))[0].sum().backward()
    s = time.perf_counter(); opt.step(); t['first_step'] = time.perf_counter() - s
    s = time.perf_counter(); make_optimizer(model, tt.TrainConfig(), 'cpu'); t['second_adamw'] = time.perf_counter() - s
print(json.dumps(t))
'''

def run(kind):
    out = subprocess.run([sys.executable, '-c', CHILD, kind], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])

def main(repeats=3):
    for kind in ('generate', 'train'):
        rs = [run(kind) for _ in range(repeats)]
        print(f'-- {kind}: median of {repeats} fresh processes')
        for k in rs[0]:
            vals = [r[k] for r in rs]
            print(f'  {k:>26}: ' + (f'{statistics.median(vals):.3f} s' if isinstance(vals[0], float) else str(vals[0])))

if __name__ == '__main__': main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
