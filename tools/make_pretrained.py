"""Turn a training run into the pretrained model that ships with the package.

    TINY_TRANSFORMER_DATA=/path/to/tinyshakespeare.txt \\
        tiny-transformer train --out runs/course --preset course --corpus tinyshakespeare
    python tools/make_pretrained.py runs/course

    TINY_TRANSFORMER_DATA=/path/to/tinyshakespeare.txt \\
        tiny-transformer train --out runs/modern --preset modern --corpus tinyshakespeare
    python tools/make_pretrained.py runs/modern --name modern    # lesson 09e's model: modern.pt, modern.json

Takes the run's best checkpoint by validation loss and stores its weights in float16 as a normal
checkpoint (tiny_transformer/assets/course.pt, read back with weights_only=True). Measures the loss of
exactly those weights on tinyshakespeare's validation split as nanoGPT cuts it: all of it, and the
fixed slice the tests re-check. Writes the metadata (tiny_transformer/assets/course.json) and this
tool's section of bench/RESULTS.md, and copies the run's metrics log to pretrained/metrics.jsonl.
"""
from __future__ import annotations
import argparse, copy, hashlib, json, platform, shutil, sys, time
from pathlib import Path
import torch
from tiny_transformer.checkpoint import CheckpointManager, load_checkpoint, save_checkpoint
from tiny_transformer.data import TINYSHAKESPEARE, load_corpus, train_val_split
from tiny_transformer.files import atomic_write, package_version, sha256_file
from tiny_transformer.tracking import read_metrics
from tiny_transformer.pretrained import (PRETRAINED_FILE, PRETRAINED_META, PRETRAINED_NAMES, VAL_SLICE_WINDOWS,
                                         NANOGPT_TRAIN_FRACTION, nanogpt_split, window_loss)

REPO = Path(__file__).resolve().parent.parent
MAX_BYTES = 8 * 2**20  # the limit for a file inside the wheel
COMMAND = ('TINY_TRANSFORMER_DATA=/path/to/tinyshakespeare.txt tiny-transformer train '
           '--out runs/{name} --preset {name} --corpus tinyshakespeare')
EXPORT_COMMAND = 'python tools/make_pretrained.py runs/{name} --name {name}'
SPLIT_RULES = ('auto', 'round', 'nanogpt')  # how the run cut its training text; auto: as the library does
RESULTS_BEGIN, RESULTS_END = '<!-- make_pretrained:begin -->', '<!-- make_pretrained:end -->'
TITLES = dict(course='The pretrained course model (issue 12)', modern="The `modern` preset's model (issue 13, lesson 09e)")

def markers(name:str)->tuple[str, str]:
    "The RESULTS.md markers around model `name`'s section (the course model's are the original ones)."
    if name == 'course': return RESULTS_BEGIN, RESULTS_END
    return f'<!-- make_pretrained:{name}:begin -->', f'<!-- make_pretrained:{name}:end -->'


def split_note(rule:str, n:int)->str:
    "One sentence on the run's training split against nanoGPT's, for the metadata."
    n_nano = int(n * NANOGPT_TRAIN_FRACTION)
    if rule == 'auto': rule = 'nanogpt' if len(train_val_split(range(n))[0]) == n_nano else 'round'
    if rule == 'nanogpt':
        return f"trained on the first int(0.9 n) = {n_nano:,} characters, exactly nanoGPT's training split"
    n_train = n - round(n * (1 - NANOGPT_TRAIN_FRACTION))
    extra = n_train - n_nano
    return (f"trained on the first n - round(0.1 n) = {n_train:,} characters of tinyshakespeare, {extra} "
            f"more than nanoGPT's int(0.9 n) = {n_nano:,} (the course's train_val_split rounded then); "
            f"the validation losses are measured on nanoGPT's split, the last {n - n_nano:,} characters, "
            f"so the model saw the first {extra} of them in training")


def best_checkpoint(run:Path)->Path:
    "The run's checkpoint with the lowest val_loss (or the newest, when none has one)."
    manager = CheckpointManager(run/'checkpoints')
    path = manager.best() or manager.latest()
    if path is None: sys.exit(f"no valid checkpoint in {run/'checkpoints'}; train first")
    return path


def eval_curve(records:list[dict])->list[list]:
    "[step, train_loss, val_loss] of every evaluation in a metrics log."
    return [[r['step'], round(r['train_loss'], 4), round(r['val_loss'], 4)] for r in records
            if r.get('val_loss') is not None and r.get('train_loss') is not None]


def train_seconds(records:list[dict], tokens_per_step:int)->float:
    "Training time implied by the logged throughput (evaluation and checkpointing not counted)."
    return sum(tokens_per_step / r['tokens_per_s'] for r in records if r.get('tokens_per_s'))


def save_half(ckpt, dest:Path, extra:dict)->Path:
    "Write the checkpoint's model in float16 with its tokenizer, configs and metrics; no trainer state."
    half = copy.deepcopy(ckpt.model).half()
    return save_checkpoint(dest, half, ckpt.tokenizer, ckpt.train_config, ckpt.step, ckpt.metrics,
                           extra=extra)


def results_section(meta:dict, name:str='course')->str:
    "This tool's section of bench/RESULTS.md, between markers so that a re-export replaces it."
    mins = f"≈ {meta['train_seconds_est'] / 60:.0f} min" if meta['train_seconds_est'] else 'n/a'
    mib, params = meta['bytes'] / 2**20, meta['num_params'] / 1e6
    slice_, split = meta['slice'], meta['split']
    begin, end = markers(name)
    return f"""{begin}
## {TITLES[name].split(' (')[0]} — `tools/make_pretrained.py` ({TITLES[name].split(' (', 1)[1]}

Written by `tools/make_pretrained.py` from the run's best checkpoint by validation loss. The losses
are measured on the shipped float16 weights (loaded back to float32) over tinyshakespeare's
validation split as nanoGPT cuts it (the last {split['val_characters']:,} characters), every position
of consecutive {slice_['context_len']}-character windows counted.

```sh
{meta['command']}
{meta['export_command']}
```

| model | step | val loss | notes |
|---|---|---|---|
| {name} model, {params:.1f} M params, {mib:.1f} MiB | {meta['step']} of {meta['max_steps']} \
| **{meta['val_loss']:.4f}** (first {slice_['windows']} windows: {meta['val_loss_slice']:.4f}) \
| run's estimate {meta['run_val_loss']:.4f}; training {mins} (logged throughput); \
torch {meta['torch_version']} |
| nanoGPT CPU configuration (published) | 2000 | 1.88 | 4 layers × 128, context 64, batch 12 |
| nanoGPT baby GPT, GPU (published) | 5000 | 1.47 | 6 layers × 384, context 256, batch 64 |

Split: {split['note']}.
{end}
"""


def write_results(path:Path, section:str, name:str='course'):
    "Replace this tool's section of `path` (or append it), leaving the other sections alone."
    text = path.read_text(encoding='utf-8') if path.is_file() else '# Benchmarks and device checks\n'
    begin, end = markers(name)
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section.rstrip('\n') + rest.split(end, 1)[1]
    else: text = text.rstrip('\n') + '\n\n' + section
    atomic_write(path, lambda f: f.write(text.encode('utf-8')))


def metadata(a, src:Path, ckpt, weights:Path, shipped, text:str, val, losses, records)->dict:
    "Everything course.json records about the shipped weights."
    cfg = ckpt.train_config
    return dict(
        file=weights.name, sha256=sha256_file(weights), bytes=weights.stat().st_size,
        dtype='float16', command=COMMAND.format(name=a.name), export_command=EXPORT_COMMAND.format(name=a.name),
        corpus=dict(name=TINYSHAKESPEARE, sha256=hashlib.sha256(text.encode()).hexdigest(),
                    characters=len(text)),
        split=dict(rule=f'nanoGPT: validation = ids[int(n * {NANOGPT_TRAIN_FRACTION}):]',
                   val_characters=len(val), note=split_note(a.split_rule, len(text))),
        step=ckpt.step, max_steps=cfg.max_steps if cfg else None, checkpoint=src.name,
        run_val_loss=ckpt.metrics.get('val_loss'),
        val_loss=round(losses[0], 4), val_loss_slice=round(losses[1], 4),
        slice=dict(windows=VAL_SLICE_WINDOWS, context_len=shipped.config.max_len,
                   what='the first windows of the nanoGPT validation split, consecutive, '
                        'non-overlapping, every position counted (pretrained.window_loss)'),
        num_params=shipped.num_params(),
        train_seconds_est=(round(train_seconds([r for r in records if r.get('step', 0) <= ckpt.step],
                                               cfg.batch_size * cfg.context_len)) if cfg and records else None),
        torch_version=torch.__version__, library_version=package_version(),
        python=platform.python_version(), machine=platform.machine(),
        model_config=ckpt.model_config.to_dict(), train_config=cfg.to_dict() if cfg else None,
        curve=eval_curve(records))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('run', type=Path, help='a run folder of `tiny-transformer train`')
    p.add_argument('--out', type=Path, default=REPO/'tiny_transformer'/'assets',
                   help='where NAME.pt and NAME.json go')
    p.add_argument('--name', choices=PRETRAINED_NAMES, default='course', help='which shipped model this is')
    p.add_argument('--metrics-out', type=Path, default=REPO/'pretrained'/'metrics.jsonl')
    p.add_argument('--checkpoint', type=Path, default=None, help='this checkpoint, not the best one')
    p.add_argument('--split-rule', choices=SPLIT_RULES, default='auto',
                   help="how the run split: 'round' = n - round(0.1 n), 'nanogpt' = int(0.9 n)")
    p.add_argument('--results', type=Path, default=REPO/'bench'/'RESULTS.md')
    a = p.parse_args(argv)
    src = a.checkpoint or best_checkpoint(a.run)
    ckpt = load_checkpoint(src)
    print(f"exporting {src} (step {ckpt.step}, run val_loss {ckpt.metrics.get('val_loss')})", flush=True)
    text = load_corpus(TINYSHAKESPEARE)
    log = a.run/'metrics.jsonl'
    records = read_metrics(log, strict=False) if log.is_file() else []
    a.out.mkdir(parents=True, exist_ok=True)
    corpus_sha = hashlib.sha256(text.encode('utf-8')).hexdigest()
    weights = save_half(ckpt, a.out/f'{a.name}.pt', extra=dict(command=COMMAND.format(name=a.name),
                                                             corpus_sha256=corpus_sha))
    if (size := weights.stat().st_size) > MAX_BYTES:
        sys.exit(f"{weights} is {size / 2**20:.1f} MiB; the package allows {MAX_BYTES / 2**20:.0f} MiB")
    shipped = load_checkpoint(weights).model.eval()  # what ships: the fp16 weights, back in fp32
    val = nanogpt_split(torch.tensor(ckpt.tokenizer.encode(text), dtype=torch.long))[1]
    t0 = time.perf_counter()
    losses = window_loss(shipped, val), window_loss(shipped, val, n_windows=VAL_SLICE_WINDOWS)
    print(f"val loss {losses[0]:.4f} (all {len(val):,} characters), {losses[1]:.4f} "
          f"(first {VAL_SLICE_WINDOWS} windows); {time.perf_counter() - t0:.0f} s", flush=True)
    meta = metadata(a, src, ckpt, weights, shipped, text, val, losses, records)
    atomic_write(a.out/f'{a.name}.json', lambda f: f.write((json.dumps(meta, indent=1) + '\n').encode()))
    write_results(a.results, results_section(meta, a.name), a.name)
    if records and a.name == 'course':
        a.metrics_out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, a.metrics_out)
    print(f"wrote {weights} ({size / 2**20:.1f} MiB), {a.out/(a.name + '.json')}, {a.results}"
          + (f" and {a.metrics_out}" if records and a.name == 'course' else ''))


if __name__ == '__main__': main()
