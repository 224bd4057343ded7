"""Everything a GPU session should check, in one script that runs in under 10 minutes on one GPU (issue 14).

    python bench/gpu_all.py                       # on a machine with CUDA; writes bench/gpu_all.json
    python bench/gpu_all.py --dry-run             # on a CPU: tiny sizes, a few steps, every stage exercised

Stages (each prints PASS/FAIL/SKIP and a value; the JSON summary holds them all):
1. `nbdev-test` of every lesson with TINY_TRANSFORMER_DEVICE=cuda (dry run: one small lesson, on the CPU);
2. the CUDA checks already in bench/: gpu_check.py and train_cuda_check.py (skipped without CUDA);
3. the `shakespeare` configuration (nanoGPT's shakespeare_char: 6 layers, 6 heads, d_model 384, context 256,
   batch 64, dropout 0.2) trained with the Trainer's CUDA defaults until the validation loss reaches nanoGPT's
   1.4697, with the wall time (nanoGPT's published figure: about 3 minutes on an A100);
4. decoding tokens/s with and without the KV cache;
5. the widgets' update time: their pure functions (`next_token_distribution`, `next_token_figure`,
   `attention_figure`) timed on the device;
6. lesson 09e: grouped-query attention with QK-norm and RoPE, fused against manual in fp32/bf16/fp16, and the
   `modern` preset (470 steps, Muon) in the Trainer's CUDA defaults, with its wall time and validation loss.
Exit status 1 if any stage fails.
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path
import torch

REPO = Path(__file__).resolve().parents[1]
NANOGPT_VAL = 1.4697  # nanoGPT shakespeare_char, its README
results, failures = {}, []


def record(name, value, ok=True, skip=False):
    "Print one line and keep the value for the summary."
    results[name] = value
    if not ok: failures.append(name)
    print(f"{'SKIP' if skip else 'PASS' if ok else 'FAIL'} {name}: {value}", flush=True)


def run(cmd, timeout, env=None):
    "Run `cmd`; return (ok, seconds, last lines of its output)."
    t = time.perf_counter()
    try: p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired: return False, time.perf_counter() - t, f'timed out after {timeout} s'
    tail = (p.stdout + p.stderr).strip().splitlines()[-3:]
    return p.returncode == 0, time.perf_counter() - t, ' | '.join(tail)


def stage_lessons(a, device):
    nbs = sorted(str(p.relative_to(REPO)) for p in (REPO / 'nbs').glob('[0-9]*.ipynb'))
    if a.dry_run: nbs = [n for n in nbs if 'files' in n][:1] or nbs[:1]
    env = dict(TINY_TRANSFORMER_DEVICE=device.type, PYTHONPATH=str(REPO))
    workers = ['--n-workers', '1'] if a.dry_run else []
    ok, dt, tail = run(['nbdev-test', *workers, *(nbs if len(nbs) == 1 else ['--path', 'nbs'])], 300, env)
    record('nbdev_test', f'{len(nbs)} notebook(s) on {device.type} in {dt:.0f} s: {tail}', ok)


def stage_cuda_checks(a, device):
    for script in ('gpu_check.py', 'train_cuda_check.py'):
        if device.type != 'cuda':
            record(script, 'needs CUDA', skip=True); continue
        ok, dt, tail = run([sys.executable, f'bench/{script}'], 240, dict(PYTHONPATH=str(REPO)))
        record(script, f'{dt:.0f} s: {tail}', ok)


def shakespeare_ids(a):
    "Token ids of tinyshakespeare (or the bundled corpus) and its tokenizer."
    from tiny_transformer.data import load_corpus
    from tiny_transformer.tokenizer import CharTokenizer
    path = REPO.parent / 'shared' / 'data' / 'tinyshakespeare.txt'
    text = load_corpus(str(path) if path.exists() and not a.dry_run else None)
    tok = CharTokenizer.from_text(text)
    return torch.tensor(tok.encode(text), dtype=torch.long), tok


def stage_shakespeare(a, device):
    import tiny_transformer as tt
    ids, tok = shakespeare_ids(a)
    n = int(0.9 * len(ids))
    if a.dry_run: mcfg, steps, ctx, batch, every, evals = dict(d_model=32, n_heads=2, n_layers=2), 6, 32, 4, 3, 2
    else: mcfg, steps, ctx, batch, every, evals = dict(d_model=384, n_heads=6, n_layers=6), 5000, 256, 64, 250, 200
    torch.manual_seed(1337)
    model = tt.TinyTransformer(tt.ModelConfig(vocab_size=tok.vocab_size, max_len=ctx, dropout=0.2, **mcfg))
    cfg = tt.TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=min(100, steps // 2), max_steps=steps, batch_size=batch,
                         context_len=ctx, betas=(0.9, 0.99), eval_interval=every, eval_steps=evals, log_interval=every,
                         device=str(device), progress=False, live_plot=False, compile=a.compile)

    from tiny_transformer.training import Callback
    class StopAtTarget(Callback):
        def on_eval(self, trainer, metrics):
            if metrics['val_loss'] <= NANOGPT_VAL: raise StopIteration
    trainer = tt.Trainer(model, ids[:n], ids[n:], cfg, tokenizer=tok, callbacks=[StopAtTarget()])
    t0 = time.perf_counter()
    try: trainer.train()
    except StopIteration: pass
    wall = time.perf_counter() - t0
    val = trainer.eval_history[-1]['val_loss']
    reached = val <= NANOGPT_VAL
    record('shakespeare', dict(val_loss=round(val, 4), step=trainer.step, wall_s=round(wall, 1), reached=reached,
                               settings=repr(trainer.settings), target=NANOGPT_VAL), reached or a.dry_run)
    return trainer.model.eval(), tok


def stage_modern(a, device):
    "Lesson 09e on the device: grouped-query attention fused == manual per dtype; the `modern` preset trains."
    import tiny_transformer as tt
    from tiny_transformer.cli import preset_configs
    from tiny_transformer.multi_head import GroupedQueryAttention
    from tiny_transformer.block import RMSNorm
    tolerances = [(torch.float32, 1e-5)] + ([(torch.bfloat16, 2e-2), (torch.float16, 2e-3)] if device.type == 'cuda' else [])
    gaps = {}
    for dtype, tol in tolerances:
        torch.manual_seed(0)
        attn = GroupedQueryAttention(128, 8, n_kv_heads=2, qk_norm=RMSNorm, max_len=64, rope_base=1e4)
        attn = attn.to(device=device, dtype=dtype).eval()
        x = torch.randn(2, 64, 128, device=device, dtype=dtype)
        with torch.no_grad(): fused, manual = attn(x)[0], attn(x, need_weights=True)[0]
        gaps[str(dtype).split('.')[-1]] = (gap := (fused.float() - manual.float()).abs().max().item(), gap <= tol)
    record('modern_fused_vs_manual', {k: f'{g:.1e}' for k, (g, _) in gaps.items()}, all(ok for _, ok in gaps.values()))
    ids, tok = shakespeare_ids(a)
    n = int(0.9 * len(ids))
    steps = 8 if a.dry_run else 470
    sizes = dict(d_model=32, n_heads=4, n_layers=2, max_len=32, d_ff=86, context_len=32, batch_size=4) if a.dry_run else {}
    mcfg, tcfg = preset_configs('modern', tok.vocab_size, max_steps=steps, warmup_steps=min(60, steps // 2),
                                eval_interval=0, device=str(device), progress=False, live_plot=False, **sizes)
    torch.manual_seed(1337)
    trainer = tt.Trainer(tt.TinyTransformer(mcfg), ids[:n], ids[n:], tcfg, tokenizer=tok)
    t0 = time.perf_counter(); rows = trainer.train(); wall = time.perf_counter() - t0
    val = trainer.evaluate(4 if a.dry_run else 100)['val_loss']
    first, last = rows[0]['loss'], rows[-1]['loss']
    record('modern_preset', dict(steps=steps, wall_s=round(wall, 1), loss=f'{first:.3f} -> {last:.3f}',
                                 val_loss=round(val, 4), settings=repr(trainer.settings)), last < first)


def stage_decoding(a, device, model):
    import tiny_transformer as tt
    n = 20 if a.dry_run else 500
    prompt = [5, 6, 7]
    for use_cache in (True, False):
        tt.generate(model, prompt, 5, temperature=0, use_cache=use_cache)  # warm up
        if device.type == 'cuda': torch.cuda.synchronize()
        t = time.perf_counter(); out = tt.generate(model, prompt, n, temperature=0, use_cache=use_cache)
        if device.type == 'cuda': torch.cuda.synchronize()
        dt = time.perf_counter() - t
        record(f'decode_{"cached" if use_cache else "uncached"}', f'{len(out) / dt:,.0f} tokens/s ({len(out)} tokens)')
    a_ids = tt.generate(model, prompt, n, temperature=0, use_cache=True)
    b_ids = tt.generate(model, prompt, n, temperature=0, use_cache=False)
    record('decode_cached_equals_uncached', a_ids == b_ids, a_ids == b_ids)


def stage_widgets(a, device, model, tok):
    "The widgets' work per control change on this device: a forward pass per text, then pictures from its cache."
    from tiny_transformer import widgets
    prompt = 'ROMEO:\nBut soft, what light'
    tp = widgets.run_text(model, tok, prompt)
    labels = widgets.token_labels(tok)
    def distribution():
        probs, kept = widgets.next_token_distribution(tp.logits, 0.8, 20, 0.9)
        return widgets.next_token_picture(probs, kept, labels, 'next character')
    def generation_step():
        gen = widgets.Generation(model, tok, prompt, temperature=0.8, seed=0)
        return [gen.step() for _ in range(5)]
    calls = dict(run_text=lambda: widgets.run_text(model, tok, prompt),
                 attention_picture=lambda: widgets.attention_picture(tp, layer=0, head=0),
                 next_token_picture=distribution, generation_5_steps=generation_step)
    for name, fn in calls.items():
        fn(); times = []
        for _ in range(2 if a.dry_run else 5):
            t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
        record(f'widget_{name}', f'{1000 * min(times):.1f} ms (best of {len(times)})')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--dry-run', action='store_true', help='tiny sizes and a few steps; runs on a CPU')
    p.add_argument('--compile', action='store_true', help='train the shakespeare model with TrainConfig(compile=True)')
    p.add_argument('--skip', nargs='*', default=[], choices=['lessons', 'cuda_checks'], help='stages to leave out')
    p.add_argument('--out', default=None, help='write the JSON summary here (default bench/gpu_all.json; none in a dry run)')
    a = p.parse_args(argv)
    cuda = torch.cuda.is_available()
    if not cuda and not a.dry_run: p.error('no CUDA device: run with --dry-run on a CPU')
    device = torch.device('cuda' if cuda and not a.dry_run else 'cpu')
    if a.dry_run: torch.set_num_threads(1)
    t0 = time.perf_counter()
    record('device', f'{torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"}, torch {torch.__version__}')
    if 'lessons' not in a.skip: stage_lessons(a, device)
    if 'cuda_checks' not in a.skip: stage_cuda_checks(a, device)
    stage_modern(a, device)
    model, tok = stage_shakespeare(a, device)
    stage_decoding(a, device, model)
    stage_widgets(a, device, model, tok)
    record('total_wall_s', round(time.perf_counter() - t0, 1))
    summary = dict(results=results, failures=failures, dry_run=a.dry_run)
    out = a.out or (None if a.dry_run else str(REPO / 'bench' / 'gpu_all.json'))
    if out: Path(out).write_text(json.dumps(summary, indent=1, default=str))
    print(json.dumps(summary, indent=1, default=str))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
