"""Tokens/s of `generate` with and without the key/value cache (lesson 07).

    python bench/generate_speed.py                      # 500 new tokens, d_model-192 model, on the CPU
    python bench/generate_speed.py --threads 1
    python bench/generate_speed.py --threads 1 --model capstone --slide 64   # the capstone's 'shakespeare' preset
    python bench/generate_speed.py --threads 1 --model capstone --slide 64 --new-tokens 600 --stream  # + per-token gaps

Two models: `bench` (d_model 192, 6 layers, 6 heads, max_len 512: 500 new tokens fit in the context, so this measures
the cache alone) and `capstone` (the capstone's 'shakespeare' preset, max_len 256: past 256 tokens the window slides;
with --slide 1 every later step re-encodes a full window, a larger --slide re-encodes only every `slide` steps).

The model is untrained (random weights): speed does not depend on what the weights are. Decoding is greedy so both
paths must produce exactly the same tokens, which the script checks.
"""
import argparse, json, statistics, time
import torch
from tiny_transformer.model import ModelConfig, TinyTransformer
from tiny_transformer.sampling import generate
from tiny_transformer.tokenizer import N_SPECIAL

CHAR_VOCAB = 65 + N_SPECIAL  # tiny-shakespeare's 65 characters + PAD, UNK, BOS, EOS
BENCH = dict(d_model=192, n_heads=6, n_layers=6, max_len=512)

def model_config(name:str)->dict:
    "The model's ModelConfig arguments: 'bench' or 'capstone' (the capstone's 'shakespeare' preset, without dropout)."
    if name == 'bench': return dict(vocab_size=CHAR_VOCAB, **BENCH)
    from tiny_transformer.cli import PRESETS
    return dict(PRESETS['shakespeare'].model, vocab_size=CHAR_VOCAB, dropout=0.0)

def timed(model, prompt, n, use_cache, slide=1):
    "Seconds to generate `n` greedy tokens, and the tokens."
    start = time.perf_counter()
    ids = generate(model, prompt, n, temperature=0, use_cache=use_cache, slide=slide)
    return time.perf_counter() - start, ids

def stream_gaps(model, prompt, n, slide):
    "Seconds between consecutive streamed tokens (the first gap includes the prompt's prefill)."
    stamps = [time.perf_counter()]
    for _ in generate(model, prompt, n, temperature=0, slide=slide, stream=True): stamps.append(time.perf_counter())
    return [b - a for a, b in zip(stamps, stamps[1:])]

def prefill_seconds(model, n_tokens, repeats=5):
    "Median seconds of one forward over `n_tokens` positions: what a window slide re-encodes."
    idx, times = torch.randint(N_SPECIAL, CHAR_VOCAB, (1, n_tokens)), []
    with torch.inference_mode():
        for _ in range(repeats): start = time.perf_counter(); model(idx); times.append(time.perf_counter() - start)
    return statistics.median(times)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--new-tokens', type=int, default=500)
    ap.add_argument('--prompt-len', type=int, default=8)
    ap.add_argument('--model', default='bench', choices=('bench', 'capstone'))
    ap.add_argument('--slide', type=int, default=1, help="generate's slide: ids dropped when the context is full")
    ap.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (default: PyTorch decides)')
    ap.add_argument('--json', default=None, help='also write the results to this file')
    ap.add_argument('--stream', action='store_true', help='also time each streamed token: the largest gap vs one prefill')
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = model_config(args.model)
    model = TinyTransformer(ModelConfig(**config)).eval()
    prompt = torch.randint(N_SPECIAL, CHAR_VOCAB, (args.prompt_len,)).tolist()  # characters only
    timed(model, prompt, 5, True); timed(model, prompt, 5, False)  # warm-up
    t_cache, ids_cache = timed(model, prompt, args.new_tokens, True, args.slide)
    t_full, ids_full = timed(model, prompt, args.new_tokens, False, args.slide)
    same = ids_cache == ids_full
    res = dict(model=args.model, config=config, slide=args.slide, params=model.num_params(), prompt_len=args.prompt_len, new_tokens=args.new_tokens,
               threads=torch.get_num_threads(), torch=torch.__version__,
               cached_tokens_per_s=round(args.new_tokens / t_cache, 1), uncached_tokens_per_s=round(args.new_tokens / t_full, 1),
               cached_s=round(t_cache, 2), uncached_s=round(t_full, 2), speedup=round(t_full / t_cache, 1), same_tokens=same)
    print(f"model {args.model} {config} ({res['params']:,} parameters), slide={args.slide}, {args.prompt_len}-token prompt, {args.new_tokens} new tokens, "
          f"{res['threads']} thread(s), torch {torch.__version__}")
    print(f"  with KV cache   : {res['cached_tokens_per_s']:8.1f} tokens/s  ({t_cache:.2f} s)")
    print(f"  without cache   : {res['uncached_tokens_per_s']:8.1f} tokens/s  ({t_full:.2f} s)")
    print(f"  speed-up        : {res['speedup']:.1f}x   identical tokens: {same}")
    if args.stream:
        gaps = stream_gaps(model, prompt, args.new_tokens, args.slide)
        prefill = prefill_seconds(model, config['max_len'] - args.slide)
        res.update(stream_max_gap_ms=round(1e3 * max(gaps[1:]), 1), stream_median_gap_ms=round(1e3 * statistics.median(gaps), 2),
                   prefill_ms=round(1e3 * prefill, 1))
        print(f"  streaming       : median gap {res['stream_median_gap_ms']} ms, max gap {res['stream_max_gap_ms']} ms; "
              f"one prefill of {config['max_len'] - args.slide} tokens {res['prefill_ms']} ms")
    if args.json:
        with open(args.json, 'w') as f: json.dump(res, f, indent=1)
    if not same: raise SystemExit("cached and uncached greedy decoding disagree")

if __name__ == '__main__': main()
