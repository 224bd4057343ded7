"""Training speed on CPU: ms/iter and tokens/s of `Trainer` for nanoGPT's documented CPU configuration.

nanoGPT's README trains tinyshakespeare (characters) on a CPU with
    --device=cpu --compile=False --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --dropout=0.0
(bias=False is nanoGPT's default). Its train.py ran that at about 60-73 ms/iter (12.8k tokens/s at best) on this class
of 2-core machine. This script times the same model shape through our `Trainer` (one optimizer step per iteration:
draw a batch, forward, backward, clip, AdamW) and, as a same-machine reference, a plain nanoGPT-style loop
(`model(x, y)`, `loss.backward()`, clip, unfused AdamW, `zero_grad(set_to_none=True)`, `loss.item()` every step).

Usage (from the repository root):
    python bench/train_speed.py                 # 10 warmup + 50 timed iterations, 3 repeats, both loops
    python bench/train_speed.py --iters 100 --repeats 5 --precision bf16
    python bench/train_speed.py --only trainer --compile both   # eager vs torch.compile'd Trainer, interleaved
The corpus is ../shared/data/tinyshakespeare.txt (relative to the repository root) or --data PATH.
"""
import argparse, os, statistics, sys, time
from pathlib import Path
import torch
from tiny_transformer.model import ModelConfig, TinyTransformer
from tiny_transformer.tokenizer import CharTokenizer
from tiny_transformer.data import get_batch
from tiny_transformer.training import Trainer, TrainConfig

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / 'shared' / 'data' / 'tinyshakespeare.txt'
NANOGPT_MS_PER_ITER = (60, 73)  # nanoGPT train.py on one of these machines (issue 3)


def build(vocab_size, a):
    torch.manual_seed(1337)
    return TinyTransformer(ModelConfig(vocab_size=vocab_size, d_model=128, n_heads=4, n_layers=4, max_len=a.context_len,
                                       dropout=0.0, bias=False))


def time_trainer(ids, vocab_size, a):
    return _time_trainer(ids, vocab_size, a, compile=False)


def time_compiled(ids, vocab_size, a): return _time_trainer(ids, vocab_size, a, compile=True)


def _time_trainer(ids, vocab_size, a, compile):
    cfg = TrainConfig(lr=1e-3, min_lr=1e-4, schedule='warmup_cosine', warmup_steps=100, max_steps=2000, batch_size=a.batch_size,
                      context_len=a.context_len, precision=a.precision, eval_interval=0, log_interval=a.warmup + a.iters,
                      progress=False, live_plot=False, device='cpu', seed=1337, compile=compile)
    trainer = Trainer(build(vocab_size, a), ids, config=cfg)
    t0 = time.perf_counter(); trainer.train(max_steps=1); first = time.perf_counter() - t0  # includes compilation
    trainer.train(max_steps=a.warmup)
    return _timed(trainer.train_step, a.iters) + (trainer.evaluate(eval_steps=1)['train_loss'], first)


def time_plain_loop(ids, vocab_size, a):
    model = build(vocab_size, a)
    decay = [p for p in model.parameters() if p.dim() >= 2]; no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=0.1), dict(params=no_decay, weight_decay=0.0)], lr=1e-3, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(1337)
    def step():
        x, y = get_batch(ids, a.batch_size, a.context_len, generator=gen)
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); opt.zero_grad(set_to_none=True)
        return loss.item()
    for _ in range(a.warmup): step()
    return _timed(step, a.iters) + (step(),)


def _timed(fn, iters):
    "(mean wall s/iter, mean CPU s/iter, per-iteration wall times) of `iters` calls; on CPU each call has finished when it returns."
    times, c0 = [], time.process_time()
    for _ in range(iters):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return sum(times) / iters, (time.process_time() - c0) / iters, times


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default=str(DEFAULT_DATA)); p.add_argument('--iters', type=int, default=50)
    p.add_argument('--warmup', type=int, default=10); p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--batch-size', type=int, default=12); p.add_argument('--context-len', type=int, default=64)
    p.add_argument('--precision', default='fp32', choices=('fp32', 'bf16'))
    p.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (default: PyTorch default)')
    p.add_argument('--only', choices=('trainer', 'plain'), default=None, help='time only one of the two loops')
    p.add_argument('--compile', choices=('no', 'yes', 'both'), default='no',
                   help="time the Trainer with TrainConfig(compile=True) ('yes'), or both eager and compiled ('both')")
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    text = Path(a.data).read_text(encoding='utf-8')
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text), dtype=torch.long)
    tokens_per_iter = a.batch_size * a.context_len
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}, '
          f'{len(ids):,} tokens, vocab {tok.vocab_size}, batch {a.batch_size} x context {a.context_len}, {a.precision}')
    loops = {'Trainer': time_trainer, 'Trainer compiled': time_compiled, 'plain loop': time_plain_loop}
    if a.compile == 'no': loops.pop('Trainer compiled')
    if a.compile == 'yes': loops.pop('Trainer')
    if a.only: loops = {k: v for k, v in loops.items() if k.lower().startswith(a.only)}
    runs = {name: [] for name in loops}
    for _ in range(a.repeats):  # interleaved, so both loops see the same machine load
        for name, fn in loops.items(): runs[name].append(fn(ids, tok.vocab_size, a))
    for name, rs in runs.items():
        ms, cpu_ms = [1000 * r[0] for r in rs], [1000 * r[1] for r in rs]
        per_iter = statistics.median(1000 * t for r in rs for t in r[2])  # robust to bursts of load from other processes
        best = min(ms)
        print(f'{name:>16}: {per_iter:6.1f} ms/iter (median iteration) = {tokens_per_iter / per_iter * 1000:,.0f} tokens/s; '
              f'best run {best:.1f} ms/iter, median run {statistics.median(ms):.1f}; CPU {statistics.median(cpu_ms):.1f} ms/iter '
              f'(loss {rs[-1][3]:.3f})' + (f'; first step {statistics.median(r[4] for r in rs):.1f} s' if len(rs[0]) > 4 else ''))
    print(f'load average after: {os.getloadavg()[0]:.2f}')
    print(f'nanoGPT train.py reference on these machines: {NANOGPT_MS_PER_ITER[0]}-{NANOGPT_MS_PER_ITER[1]} ms/iter '
          f'({tokens_per_iter / NANOGPT_MS_PER_ITER[0] * 1000:,.0f} tokens/s at best)')


if __name__ == '__main__':
    sys.exit(main())
