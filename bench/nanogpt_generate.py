"""Sampling speed side by side with nanoGPT's `GPT.generate`, same model shape, same process, same load.

nanoGPT is not part of this project: fetch its repository yourself and point this script at the folder holding its
`model.py`, which is imported at run time (nothing of it is copied here):

    git clone https://github.com/karpathy/nanoGPT /tmp/nanoGPT        # or: git show HEAD:model.py > /tmp/nanogpt/model.py
    python bench/nanogpt_generate.py /tmp/nanoGPT
    python bench/nanogpt_generate.py /tmp/nanoGPT --threads 1 --repeats 3 --json /tmp/nanogpt.json

Both models get the `cpu` preset's shape (4 layers, 4 heads, d_model 128, context 64, the character vocabulary),
untrained weights (speed does not depend on them), and sample 500 tokens at temperature 0.8 with top-k 200, as
nanoGPT's `sample.py` does. nanoGPT crops its context to the last 64 ids and re-runs them every step; ours runs
`generate` with the command line's slide (a quarter of the context) and, for the like-for-like context, slide 1.
Runs are interleaved (nanoGPT, ours, ours slide 1, repeat) so every contender sees the same machine load; the table
reports the median of the repeats. The streaming row times each token of `generate(..., stream=True)`: the largest
gap between two tokens, beside the time of one prefill of a full window.
"""
import argparse, importlib.util, json, os, statistics, sys, time

CLOCK = time.perf_counter  # --clock cpu switches to this process's CPU time (robust to other jobs on the machine)
from pathlib import Path
import torch
from tiny_transformer.model import ModelConfig, TinyTransformer
from tiny_transformer.sampling import generate
from tiny_transformer.tokenizer import N_SPECIAL

CHAR_VOCAB = 65 + N_SPECIAL  # tiny-shakespeare's 65 characters + PAD, UNK, BOS, EOS
SHAPE = dict(n_layers=4, n_heads=4, d_model=128, max_len=64)  # the `cpu` preset's model (nanoGPT's CPU recipe)

def load_nanogpt(folder:str):
    "nanoGPT's model module, imported from `folder`/model.py."
    path = Path(folder) / 'model.py'
    if not path.is_file(): raise SystemExit(f"{path} does not exist; pass the folder of a nanoGPT checkout (its model.py)")
    spec = importlib.util.spec_from_file_location('nanogpt_model', path)
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    return module

def build_models(nanogpt, bias:bool):
    "Our model and nanoGPT's, same shape, eval mode."
    torch.manual_seed(0)
    ours = TinyTransformer(ModelConfig(vocab_size=CHAR_VOCAB, dropout=0.0, bias=bias, **SHAPE)).eval()
    cfg = nanogpt.GPTConfig(block_size=SHAPE['max_len'], vocab_size=CHAR_VOCAB, n_layer=SHAPE['n_layers'],
                            n_head=SHAPE['n_heads'], n_embd=SHAPE['d_model'], dropout=0.0, bias=bias)
    theirs = nanogpt.GPT(cfg).eval()
    return ours, theirs

def time_nanogpt(model, prompt, n, temperature, top_k):
    "Seconds for nanoGPT's `generate` to add `n` tokens (under no_grad, as its sample.py runs it)."
    idx = torch.tensor([prompt])
    start = CLOCK()
    with torch.no_grad(): out = model.generate(idx, n, temperature=temperature, top_k=top_k)
    assert out.shape[1] == len(prompt) + n
    return CLOCK() - start

def time_ours(model, prompt, n, temperature, top_k, slide):
    "Seconds for our `generate` to add `n` tokens."
    start = CLOCK()
    ids = generate(model, prompt, n, temperature=temperature, top_k=top_k, seed=0, slide=slide)
    assert len(ids) == n
    return CLOCK() - start

def stream_gaps(model, prompt, n, temperature, top_k, slide):
    "Seconds between consecutive tokens of a streamed `generate` (the first gap includes the prompt's prefill)."
    stamps = [CLOCK()]
    for _ in generate(model, prompt, n, temperature=temperature, top_k=top_k, seed=0, slide=slide, stream=True):
        stamps.append(CLOCK())
    return [b - a for a, b in zip(stamps, stamps[1:])]

def prefill_seconds(model, n_tokens:int, repeats:int=20)->float:
    "Median seconds of one forward over `n_tokens` positions (what a window slide re-encodes)."
    idx = torch.randint(N_SPECIAL, CHAR_VOCAB, (1, n_tokens))
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            start = CLOCK(); model(idx); times.append(CLOCK() - start)
    return statistics.median(times)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('nanogpt', help="folder holding nanoGPT's model.py")
    ap.add_argument('--new-tokens', type=int, default=500)
    ap.add_argument('--temperature', type=float, default=0.8)
    ap.add_argument('--top-k', type=int, default=200)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--no-bias', action='store_true', help="bias=False in both models (nanoGPT's train.py default)")
    ap.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (default: PyTorch decides)')
    ap.add_argument('--json', default=None, help='also write the results to this file')
    ap.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                    help="'cpu': time.process_time, which other jobs on a shared machine barely affect (use --threads 1)")
    a = ap.parse_args()
    global CLOCK
    if a.clock == "cpu": CLOCK = time.process_time
    if a.threads: torch.set_num_threads(a.threads)
    nanogpt = load_nanogpt(a.nanogpt)
    ours, theirs = build_models(nanogpt, bias=not a.no_bias)
    prompt = [N_SPECIAL]  # one character, like sample.py's "\n"
    cli_slide = max(1, SHAPE['max_len'] // 4)
    args = (prompt, a.new_tokens, a.temperature, a.top_k)
    time_nanogpt(theirs, prompt, 20, a.temperature, a.top_k); time_ours(ours, prompt, 20, a.temperature, a.top_k, 1)
    runs = {'nanogpt': [], 'ours': [], 'ours_slide1': []}
    for _ in range(a.repeats):
        runs['nanogpt'].append(time_nanogpt(theirs, *args))
        runs['ours'].append(time_ours(ours, *args, cli_slide))
        runs['ours_slide1'].append(time_ours(ours, *args, 1))
    tps = {k: round(a.new_tokens / statistics.median(v), 1) for k, v in runs.items()}
    gaps = stream_gaps(ours, *args, cli_slide)
    prefill = prefill_seconds(ours, SHAPE['max_len'] - cli_slide)
    res = dict(shape=SHAPE, vocab_size=CHAR_VOCAB, bias=not a.no_bias, new_tokens=a.new_tokens,
               temperature=a.temperature, top_k=a.top_k, repeats=a.repeats, cli_slide=cli_slide,
               threads=torch.get_num_threads(), torch=torch.__version__, load=os.getloadavg(), clock=a.clock,
               tokens_per_s=tps, speedup=round(tps['ours'] / tps['nanogpt'], 2),
               speedup_slide1=round(tps['ours_slide1'] / tps['nanogpt'], 2),
               stream_max_gap_ms=round(1e3 * max(gaps[1:]), 2), stream_median_gap_ms=round(1e3 * statistics.median(gaps), 3),
               prefill_ms=round(1e3 * prefill, 2))
    print(f"{SHAPE}, vocab {CHAR_VOCAB}, bias={res['bias']}, {a.new_tokens} tokens, T={a.temperature}, top-k {a.top_k}, "
          f"{res['threads']} thread(s), torch {torch.__version__}, load {' '.join(f'{x:.1f}' for x in res['load'])}")
    print(f"  nanoGPT GPT.generate     : {tps['nanogpt']:8.1f} tokens/s")
    print(f"  ours, slide {cli_slide:<3} (CLI)   : {tps['ours']:8.1f} tokens/s  ({res['speedup']:.2f}x nanoGPT)")
    print(f"  ours, slide 1            : {tps['ours_slide1']:8.1f} tokens/s  ({res['speedup_slide1']:.2f}x nanoGPT)")
    print(f"  streaming: median gap {res['stream_median_gap_ms']} ms, max gap {res['stream_max_gap_ms']} ms; "
          f"one prefill of {SHAPE['max_len'] - cli_slide} tokens {res['prefill_ms']} ms")
    if a.json:
        with open(a.json, 'w') as f: json.dump(res, f, indent=1)

if __name__ == '__main__': main()
