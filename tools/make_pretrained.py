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
from tiny_transformer.data import TINYSHAKESPEARE, load_corpus
from tiny_transformer.files import atomic_write, package_version, sha256_file
from tiny_transformer.tracking import read_metrics
from tiny_transformer.pretrained import (PRETRAINED_FILE, PRETRAINED_META, VAL_SLICE_WINDOWS, NANOGPT_TRAIN_FRACTION,
                                         nanogpt_split, window_loss)

REPO = Path(__file__).resolve().parent.parent
MAX_BYTES = 8 * 2**20  # the limit for a file inside the wheel
COMMAND = ('TINY_TRANSFORMER_DATA=/path/to/tinyshakespeare.txt tiny-transformer train --out runs/course '
           '--preset course --corpus tinyshakespeare')
EXPORT_COMMAND = 'python tools/make_pretrained.py runs/course'
SPLIT_NOTE = ("trained on the first n - round(0.1 n) = 1,003,855 characters of tinyshakespeare: one character more than "
              "nanoGPT's int(0.9 n) = 1,003,854 (the course's train_val_split rounded then); validation losses here are "
              "measured on nanoGPT's split, the last 111,540 characters, whose first character the model saw in training")


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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('run', type=Path, help='a run folder made by `tiny-transformer train` (checkpoints/, metrics.jsonl)')
    p.add_argument('--out', type=Path, default=REPO/'tiny_transformer'/'assets', help='where course.pt/.json go')
    p.add_argument('--metrics-out', type=Path, default=REPO/'pretrained'/'metrics.jsonl')
    p.add_argument('--checkpoint', type=Path, default=None, help='this checkpoint instead of the best one')
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
                   note=SPLIT_NOTE),
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
    if records:
        a.metrics_out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(a.run/'metrics.jsonl', a.metrics_out)
    print(f"wrote {weights} ({size / 2**20:.1f} MiB), {a.out/PRETRAINED_META}"
          + (f" and {a.metrics_out}" if records else ' (no metrics.jsonl in the run)'))


if __name__ == '__main__': main()
