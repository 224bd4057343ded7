"""Turn a training run into the pretrained model that ships with the package.

    TINY_TRANSFORMER_DATA=/path/to/tinyshakespeare.txt \\
        tiny-transformer train --out runs/course --preset course --corpus tinyshakespeare
    python tools/make_pretrained.py runs/course

Takes the run's best checkpoint by validation loss, stores its weights in float16 as a normal checkpoint
(tiny_transformer/assets/course.pt, read back with weights_only=True), measures the loss of exactly those weights
on tinyshakespeare's validation split as nanoGPT cuts it (all of it, and the fixed slice the tests re-check), writes
the metadata (tiny_transformer/assets/course.json) and copies the run's metrics log to pretrained/metrics.jsonl.
"""
from __future__ import annotations
import argparse, copy, hashlib, json, platform, shutil, sys, time
from pathlib import Path
import torch
from tiny_transformer.checkpoint import CheckpointManager, load_checkpoint, save_checkpoint
from tiny_transformer.data import TINYSHAKESPEARE, load_corpus, train_val_split
from tiny_transformer.files import atomic_write, package_version, sha256_file
from tiny_transformer.tracking import read_metrics
from tiny_transformer.pretrained import (PRETRAINED_FILE, PRETRAINED_META, VAL_SLICE_WINDOWS, NANOGPT_TRAIN_FRACTION,
                                         nanogpt_split, window_loss)

REPO = Path(__file__).resolve().parent.parent
MAX_BYTES = 8 * 2**20  # the limit for a file inside the wheel
COMMAND = ('TINY_TRANSFORMER_DATA=/path/to/tinyshakespeare.txt tiny-transformer train --out runs/course '
           '--preset course --corpus tinyshakespeare')
EXPORT_COMMAND = 'python tools/make_pretrained.py runs/course'
SPLIT_RULES = ('auto', 'round', 'nanogpt')  # how the run cut its training text (auto: as train_val_split does now)


def split_note(rule:str, n:int)->str:
    "One sentence on the training split of the run against nanoGPT's, for the metadata."
    if rule == 'auto': rule = 'nanogpt' if len(train_val_split(range(n))[0]) == int(n * NANOGPT_TRAIN_FRACTION) else 'round'
    n_nano = int(n * NANOGPT_TRAIN_FRACTION)
    if rule == 'nanogpt':
        return f"trained on the first int(0.9 n) = {n_nano:,} characters, exactly nanoGPT's training split"
    n_train = n - round(n * (1 - NANOGPT_TRAIN_FRACTION))
    return (f"trained on the first n - round(0.1 n) = {n_train:,} characters of tinyshakespeare, {n_train - n_nano} more "
            f"than nanoGPT's int(0.9 n) = {n_nano:,} (the course's train_val_split rounded then); the validation losses "
            f"are measured on nanoGPT's split, the last {n - n_nano:,} characters, so the model saw the first "
            f"{n_train - n_nano} of them in training")


def best_checkpoint(run:Path)->Path:
    "The run's checkpoint with the lowest val_loss (or the newest, when none has one)."
    manager = CheckpointManager(run/'checkpoints')
    path = manager.best() or manager.latest()
    if path is None: sys.exit(f"no valid checkpoint in {run/'checkpoints'}; train first ({COMMAND})")
    return path


def eval_curve(records:list[dict])->list[list]:
    "[step, train_loss, val_loss] of every evaluation in a metrics log."
    return [[r['step'], round(r['train_loss'], 4), round(r['val_loss'], 4)] for r in records
            if r.get('val_loss') is not None and r.get('train_loss') is not None]


def train_seconds(records:list[dict], tokens_per_step:int)->float:
    "Training time implied by the logged throughput (evaluation and checkpointing not counted)."
    rows = [r for r in records if r.get('tokens_per_s')]
    return sum(tokens_per_step / r['tokens_per_s'] for r in rows)


def save_half(ckpt, dest:Path, extra:dict)->Path:
    "Write the checkpoint's model in float16, with its tokenizer, train config, step and metrics, without trainer state."
    half = copy.deepcopy(ckpt.model).half()
    return save_checkpoint(dest, half, ckpt.tokenizer, ckpt.train_config, ckpt.step, ckpt.metrics, extra=extra)


RESULTS_BEGIN, RESULTS_END = '<!-- make_pretrained:begin -->', '<!-- make_pretrained:end -->'


def results_section(meta:dict)->str:
    "The bench/RESULTS.md section for the shipped model, between markers so a re-export replaces it."
    mins = f"{meta['train_seconds_est'] / 60:.0f} min" if meta['train_seconds_est'] else 'n/a'
    return f"""{RESULTS_BEGIN}
## The pretrained course model — `tools/make_pretrained.py` (issue 12)

Written by `tools/make_pretrained.py` from the run's best checkpoint by validation loss; losses measured on the
shipped float16 weights (loaded back to float32) over tinyshakespeare's validation split as nanoGPT cuts it
(the last {meta['split']['val_characters']:,} characters), every position of consecutive {meta['slice']['context_len']}-character windows counted.

```sh
{meta['command']}
{meta['export_command']}
```

| model | step | val loss | notes |
|---|---|---|---|
| course model, {meta['num_params'] / 1e6:.1f} M params, {meta['bytes'] / 2**20:.1f} MiB | {meta['step']} of {meta['max_steps']} | **{meta['val_loss']:.4f}** (first {meta['slice']['windows']} windows: {meta['val_loss_slice']:.4f}) | the run's own estimate {meta['run_val_loss']:.4f}; ≈ {mins} of training (logged throughput); torch {meta['torch_version']} |
| nanoGPT CPU configuration (published) | 2000 | 1.88 | 4 layers × 128, context 64, batch 12 |
| nanoGPT baby GPT on a GPU (published) | 5000 | 1.47 | 6 layers × 384, context 256, batch 64, dropout 0.2 |

Split: {meta['split']['note']}.
{RESULTS_END}
"""


def write_results(path:Path, section:str):
    "Replace this tool's section of `path` (or append it), leaving the other sections alone."
    text = path.read_text(encoding='utf-8') if path.is_file() else '# Benchmarks and device checks\n'
    if RESULTS_BEGIN in text and RESULTS_END in text:
        head, rest = text.split(RESULTS_BEGIN, 1)
        text = head + section.rstrip('\n') + rest.split(RESULTS_END, 1)[1]
    else: text = text.rstrip('\n') + '\n\n' + section
    atomic_write(path, lambda f: f.write(text.encode('utf-8')))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('run', type=Path, help='a run folder made by `tiny-transformer train` (checkpoints/, metrics.jsonl)')
    p.add_argument('--out', type=Path, default=REPO/'tiny_transformer'/'assets', help='where course.pt/.json go')
    p.add_argument('--metrics-out', type=Path, default=REPO/'pretrained'/'metrics.jsonl')
    p.add_argument('--checkpoint', type=Path, default=None, help='this checkpoint instead of the best one')
    p.add_argument('--split-rule', choices=SPLIT_RULES, default='auto',
                   help="how the run split train/val: 'round' = n - round(0.1 n), 'nanogpt' = int(0.9 n)")
    p.add_argument('--results', type=Path, default=REPO/'bench'/'RESULTS.md', help='where the summary section goes')
    a = p.parse_args(argv)
    src = a.checkpoint or best_checkpoint(a.run)
    ckpt = load_checkpoint(src)
    print(f"exporting {src} (step {ckpt.step}, run val_loss {ckpt.metrics.get('val_loss')})", flush=True)
    text = load_corpus(TINYSHAKESPEARE)
    corpus_sha = hashlib.sha256(text.encode('utf-8')).hexdigest()
    records = read_metrics(a.run/'metrics.jsonl', strict=False) if (a.run/'metrics.jsonl').is_file() else []
    a.out.mkdir(parents=True, exist_ok=True)
    weights = save_half(ckpt, a.out/PRETRAINED_FILE, extra=dict(command=COMMAND, corpus_sha256=corpus_sha))
    size = weights.stat().st_size
    if size > MAX_BYTES: sys.exit(f"{weights} is {size / 2**20:.1f} MiB; the package allows {MAX_BYTES / 2**20:.0f} MiB")
    shipped = load_checkpoint(weights).model.float().eval()  # measure exactly what ships: fp16 weights back in fp32
    val = nanogpt_split(torch.tensor(ckpt.tokenizer.encode(text), dtype=torch.long))[1]
    t0 = time.perf_counter()
    val_loss = window_loss(shipped, val)
    slice_loss = window_loss(shipped, val, n_windows=VAL_SLICE_WINDOWS)
    print(f"val loss {val_loss:.4f} (all {len(val):,} characters), {slice_loss:.4f} (first {VAL_SLICE_WINDOWS} windows); "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    cfg = ckpt.train_config
    meta = dict(
        file=PRETRAINED_FILE, sha256=sha256_file(weights), bytes=size, dtype='float16',
        command=COMMAND, export_command=EXPORT_COMMAND,
        corpus=dict(name=TINYSHAKESPEARE, sha256=corpus_sha, characters=len(text)),
        split=dict(rule=f'nanoGPT: validation = ids[int(n * {NANOGPT_TRAIN_FRACTION}):]', val_characters=len(val),
                   note=split_note(a.split_rule, len(text))),
        step=ckpt.step, max_steps=cfg.max_steps if cfg else None, checkpoint=src.name,
        run_val_loss=ckpt.metrics.get('val_loss'),
        val_loss=round(val_loss, 4),
        val_loss_slice=round(slice_loss, 4),
        slice=dict(windows=VAL_SLICE_WINDOWS, context_len=shipped.config.max_len,
                   what='the first windows of the nanoGPT validation split, consecutive and non-overlapping; '
                        'every position counted (tiny_transformer.pretrained.window_loss)'),
        num_params=shipped.num_params(),
        train_seconds_est=round(train_seconds(records, cfg.batch_size * cfg.context_len)) if cfg and records else None,
        torch_version=torch.__version__, library_version=package_version(),
        python=platform.python_version(), machine=platform.machine(),
        model_config=ckpt.model_config.to_dict(), train_config=cfg.to_dict() if cfg else None,
        curve=eval_curve(records),
    )
    atomic_write(a.out/PRETRAINED_META, lambda f: f.write((json.dumps(meta, indent=1) + '\n').encode()))
    write_results(a.results, results_section(meta))
    if records:
        a.metrics_out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(a.run/'metrics.jsonl', a.metrics_out)
    print(f"wrote {weights} ({size / 2**20:.1f} MiB), {a.out/PRETRAINED_META}"
          + (f" and {a.metrics_out}" if records else ' (no metrics.jsonl in the run)'))


if __name__ == '__main__': main()
