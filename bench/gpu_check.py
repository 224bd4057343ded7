"""CUDA checks for the course, run on a machine with a GPU (see bench/RESULTS.md).

    python bench/gpu_check.py            # prints one line per check and a JSON summary

Checks: device choice, fused attention == manual attention (fp32/bf16/fp16), cached == uncached greedy
decoding, bf16 and fp16 (GradScaler) training steps, and the trainer's tokens/s for the nanoGPT CPU config
and the Shakespeare preset.
"""
import json, sys, time
from pathlib import Path
import torch
import tiny_transformer as tt
from tiny_transformer.multi_head import MultiHeadAttention
from tiny_transformer.training import Trainer, TrainConfig

results = {}
def record(name, value, ok=True):
    results[name] = value
    print(f"{'PASS' if ok else 'FAIL'} {name}: {value}", flush=True)
    if not ok: results.setdefault('failures', []).append(name)

assert torch.cuda.is_available(), 'this script needs CUDA'
dev = tt.get_device()
record('device', f'{dev!r} {torch.cuda.get_device_name(0)} torch {torch.__version__}', dev.device.type == 'cuda')

# fused (F.scaled_dot_product_attention) against the from-scratch path, with causal and padding masks
torch.manual_seed(0)
for dtype, tol in [(torch.float32, 1e-5), (torch.bfloat16, 2e-2), (torch.float16, 2e-3)]:
    mha = MultiHeadAttention(256, 8, causal=True).cuda().to(dtype).eval()
    x = torch.randn(4, 128, 256, device='cuda', dtype=dtype)
    pad = torch.ones(4, 128, dtype=torch.bool, device='cuda'); pad[1, 100:] = False
    with torch.no_grad():
        mha.fused = True; y_fused, _ = mha(x, padding_mask=pad)
        mha.fused = False; y_manual, _ = mha(x, padding_mask=pad)
    err = (y_fused.float() - y_manual.float()).abs().max().item()
    record(f'fused_vs_manual_{str(dtype).split(".")[1]}', f'max abs diff {err:.2e} (tol {tol})', err < tol)

# cached greedy decoding equals uncached on the GPU
cfg = tt.ModelConfig(vocab_size=69, d_model=128, n_heads=4, n_layers=4, max_len=64)
model = tt.TinyTransformer(cfg).cuda().eval()
prompt = [5, 6, 7]
a = tt.generate(model, prompt, 100, temperature=0, use_cache=True)
b = tt.generate(model, prompt, 100, temperature=0, use_cache=False)
record('cached_equals_uncached_greedy_cuda', f'{len(a)} tokens, equal={a == b}', a == b)

# mixed-precision training steps
text = (Path(__file__).resolve().parents[1] / 'nbs').parent.joinpath('..', 'shared', 'data', 'tinyshakespeare.txt')
corpus = tt.load_corpus(str(text)) if text.exists() else tt.load_corpus()
tok = tt.CharTokenizer.from_text(corpus)
data = torch.tensor(tok.encode(corpus), dtype=torch.long)
n = int(0.9 * len(data)); train, val = data[:n], data[n:]

def run(model_cfg, train_cfg, steps):
    torch.manual_seed(0)
    m = tt.TinyTransformer(model_cfg)
    tr = Trainer(m, train, val, train_cfg, tokenizer=tok)
    tr.train(max_steps=5)  # warm-up (allocations, autotuning)
    torch.cuda.synchronize(); t0 = time.perf_counter()
    hist = tr.train(max_steps=5 + steps)
    torch.cuda.synchronize(); dt = time.perf_counter() - t0
    return hist, dt

small = tt.ModelConfig(vocab_size=tok.vocab_size, d_model=128, n_heads=4, n_layers=4, max_len=64, dropout=0.0)
for precision in ['fp32', 'bf16', 'fp16']:
    tc = TrainConfig(batch_size=12, context_len=64, max_steps=1000, precision=precision, device='cuda', lr=1e-3,
                     warmup_steps=0, schedule='constant', log_interval=10**9, eval_interval=10**9)
    hist, dt = run(small, tc, 50)
    losses = [h['loss'] for h in hist if 'loss' in h]
    ok = all(map(lambda v: v == v and v < 10, losses)) and losses[-1] < losses[0]
    record(f'train_{precision}_nanogpt_cpu_config', f'{dt / 50 * 1000:.1f} ms/iter, {50 * 12 * 64 / dt:,.0f} tok/s, loss {losses[0]:.3f} -> {losses[-1]:.3f}', ok)

big = tt.ModelConfig(vocab_size=tok.vocab_size, d_model=384, n_heads=6, n_layers=6, max_len=256, dropout=0.2)
tc = TrainConfig(batch_size=64, context_len=256, max_steps=1000, precision='bf16', device='cuda', lr=1e-3,
                 warmup_steps=0, schedule='constant', log_interval=10**9, eval_interval=10**9)
hist, dt = run(big, tc, 30)
record('train_bf16_shakespeare_preset', f'{dt / 30 * 1000:.1f} ms/iter, {30 * 64 * 256 / dt:,.0f} tok/s', True)

print(json.dumps(results, indent=1))
sys.exit(1 if results.get('failures') else 0)
