"""A CPU recipe at nanoGPT's budget: train a preset on tinyshakespeare and report validation loss, wall time and CPU time.

nanoGPT's CPU configuration (the `cpu` preset: 4 layers, 4 heads, d_model 128, context 64, batch 12, 2000 iterations)
takes 156.6 s on one of these 2-core machines and reaches val 1.8857. The question is how low a recipe gets in no
more time. On a shared machine wall time depends on the other jobs, so the script also reports this process's CPU
time, and the CPU time per optimizer step measured over the run.

    TINY_TRANSFORMER_DATA=../shared/data/tinyshakespeare.txt python bench/cpu_recipe.py --preset cpu --lr 3e-3
    TINY_TRANSFORMER_DATA=../shared/data/tinyshakespeare.txt python bench/cpu_recipe.py --preset cpu_fast
"""
import argparse, json, os, time
import torch
from tiny_transformer.cli import preset_configs
from tiny_transformer.data import load_corpus, train_val_split
from tiny_transformer.env import set_seed
from tiny_transformer.model import TinyTransformer
from tiny_transformer.tokenizer import CharTokenizer
from tiny_transformer.training import Trainer


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', default='cpu'); ap.add_argument('--lr', type=float, default=None)
    ap.add_argument('--steps', type=int, default=None); ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--eval-batches', type=int, default=200, help='batches of the final validation loss')
    ap.add_argument('--json', default=None)
    ap.add_argument('--set', nargs='*', default=[], metavar='FIELD=VALUE',
                    help='more ModelConfig/TrainConfig fields, e.g. batch_size=24 context_len=128 d_model=128')
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    text = load_corpus('tinyshakespeare')
    tok = CharTokenizer.from_text(text)
    train, val = train_val_split(torch.tensor(tok.encode(text)))
    over = {k: v for k, v in dict(lr=a.lr, max_steps=a.steps).items() if v is not None}
    if 'lr' in over: over['min_lr'] = over['lr'] / 10
    for item in a.set:
        k, v = item.split('=', 1); over[k] = json.loads(v)
    model_cfg, cfg = preset_configs(a.preset, tok.vocab_size, progress=False, live_plot=False, eval_interval=0,
                                    device='cpu', **over)
    set_seed(cfg.seed)
    trainer = Trainer(TinyTransformer(model_cfg), train, val, cfg)
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    val_loss = trainer.evaluate(a.eval_batches)['val_loss']
    res = dict(preset=a.preset, set=a.set, lr=cfg.lr, steps=cfg.max_steps, tokens=cfg.max_steps * cfg.batch_size * cfg.context_len,
               params=trainer.model.num_params(), val_loss=round(val_loss, 4), wall_s=round(wall, 1),
               cpu_s=round(cpu, 1), threads=torch.get_num_threads(), load=os.getloadavg(), torch=torch.__version__)
    print(json.dumps(res))
    if a.json:
        with open(a.json, 'w') as f: json.dump(res, f, indent=1)

if __name__ == '__main__': main()
