"""CUDA checks for the course, run on a machine with a GPU (see bench/RESULTS.md).

    python bench/gpu_check.py            # prints one line per check and a JSON summary

Checks: device choice, fused attention == manual attention (fp32/bf16/fp16, causal + padding masks) and
cached == uncached greedy decoding on CUDA. The trainer's CUDA paths (bf16, fp16 with GradScaler, resume,
ms/iter, the CUDA defaults) are checked by bench/train_cuda_check.py; bench/gpu_all.py runs both and more.
"""
import json, sys
import torch
import tiny_transformer as tt
from tiny_transformer.multi_head import MultiHeadAttention

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

print(json.dumps(results, indent=1))
sys.exit(1 if results.get('failures') else 0)
