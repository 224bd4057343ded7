"""CUDA checks of the trainer (lessons 06c and 06d), for a machine with a GPU.

    python bench/train_cuda_check.py [--out results.json]

Checks: the CUDA defaults (precision 'auto' -> bf16 or fp16, TF32, pinned copies, fused AdamW); fp32 / bf16 / fp16 (GradScaler) training on CUDA learns without NaNs; fp16 really uses a GradScaler;
resume on CUDA (2N steps vs N + torch.save/torch.load(weights_only=True) + N, with dropout) -- bitwise or within a
reported max difference, since some CUDA backward kernels are not deterministic; ms/iter and tokens/s of the
nanoGPT CPU configuration (4 layers, 4 heads, d_model 128, context 64, batch 12) per precision.
"""
import argparse, io, json, sys, time
from pathlib import Path
import torch
from tiny_transformer.model import ModelConfig, TinyTransformer
from tiny_transformer.tokenizer import CharTokenizer
from tiny_transformer.data import load_corpus
from tiny_transformer.training import Trainer, TrainConfig

results, failures = {}, []
def record(name, value, ok=True):
    results[name] = value
    if not ok: failures.append(name)
    print(f"{'PASS' if ok else 'FAIL'} {name}: {value}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(); p.add_argument('--out', default=None); a = p.parse_args(argv)
    assert torch.cuda.is_available(), 'this script needs CUDA'
    record('device', f'{torch.cuda.get_device_name(0)}, torch {torch.__version__}')
    path = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'tinyshakespeare.txt'
    text = load_corpus(str(path) if path.exists() else None)[:1_000_000]
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text), dtype=torch.long)
    train, val = ids[:900_000], ids[900_000:]
    mcfg = lambda dropout=0.0: ModelConfig(vocab_size=tok.vocab_size, d_model=128, n_heads=4, n_layers=4, max_len=64, dropout=dropout)

    def trainer(precision, dropout=0.0, seed=0, **kw):
        torch.manual_seed(seed)
        cfg = dict(batch_size=12, context_len=64, max_steps=1000, precision=precision, device='cuda', lr=1e-3, warmup_steps=10,
                   log_interval=10**6, eval_interval=0, progress=False, live_plot=False)
        return Trainer(TinyTransformer(mcfg(dropout)), train, val, TrainConfig(**{**cfg, **kw}), tokenizer=tok)

    t = trainer('auto')
    s, fused = t.settings, t.optimizer.defaults.get('fused')
    ok = s.precision == ('bf16' if torch.cuda.is_bf16_supported() else 'fp16') and s.tf32 and s.pin_memory and fused
    record('cuda_defaults', f'{s!r}, fused AdamW {fused}, TF32 matmul {torch.backends.cuda.matmul.allow_tf32}', bool(ok))
    x, y = t.next_batches()[0]
    record('batches_on_device', f'{x.device}, {y.device}', x.is_cuda and y.is_cuda)

    for precision in ('fp32', 'bf16', 'fp16'):
        t = trainer(precision)
        t.train(max_steps=10)
        torch.cuda.synchronize(); t0 = time.perf_counter()
        t.train(max_steps=210)
        torch.cuda.synchronize(); dt = (time.perf_counter() - t0) / 200
        losses = [r['loss'] for r in t.history]
        ok = all(l == l and l < 10 for l in losses) and losses[-1] < losses[0] - 0.5
        if precision == 'fp16': ok = ok and t.scaler is not None and t.scaler.get_scale() > 1
        ev = t.evaluate(eval_steps=5)
        record(f'train_{precision}', f'{dt * 1000:.2f} ms/iter, {12 * 64 / dt:,.0f} tokens/s, loss {losses[0]:.3f} -> {losses[-1]:.3f}, '
               f'val {ev["val_loss"]:.3f}' + (f', scale {t.scaler.get_scale():.0f}' if t.scaler else ''), ok)

    for precision in ('fp32', 'fp16'):
        straight = trainer(precision, dropout=0.1, max_steps=20); straight.train()
        first = trainer(precision, dropout=0.1, max_steps=20); first.train(max_steps=10)
        buf = io.BytesIO(); torch.save(first.state_dict(), buf); buf.seek(0)
        resumed = trainer(precision, dropout=0.1, seed=5, max_steps=20)
        resumed.load_state_dict(torch.load(buf, weights_only=True)); resumed.train()
        diffs = [(x.float() - y.float()).abs().max().item() for x, y in zip(straight.model.state_dict().values(), resumed.model.state_dict().values())]
        same_loss = [r['loss'] for r in straight.history] == [r['loss'] for r in resumed.history]
        record(f'resume_{precision}', f'max weight diff {max(diffs):.2e}, bitwise={max(diffs) == 0}, same losses={same_loss}', max(diffs) < 1e-3)

    summary = dict(results=results, failures=failures)
    print(json.dumps(summary, indent=1))
    if a.out: Path(a.out).write_text(json.dumps(summary, indent=1))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
