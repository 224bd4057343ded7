"""The sharing promises of lesson 08b, tested with real threads and processes.

- Two processes appending to one metrics.jsonl (each with its own MetricsLogger) never tear or interleave a line,
  even for lines far larger than a pipe buffer; the control experiment shows the check catches a writer that
  splits its lines.
- One MetricsLogger shared by threads keeps every record.
- Two CheckpointManagers saving into one folder from two processes lose nothing the keep rules keep: the newest
  `keep_last` steps of the folder survive, every file verifies, no temporary file is left.
- One model in eval mode generates from several threads exactly what it generates alone."""
import json, multiprocessing as mp, os, sys, threading, time
import pytest, torch

from tiny_transformer.checkpoint import CheckpointManager, read_checkpoint
from tiny_transformer.model import ModelConfig, TinyTransformer
from tiny_transformer.tracking import MetricsLogger, read_metrics

N_LINES = 100  # per writer process
SIZES = (10, 3_000, 70_000, 300_000)  # payload characters; cycled (a pipe buffer is 4 KiB, a Python buffer 8 KiB)
N_SAVES = 8  # per manager process
START_TIMEOUT_S = 60

posix_only = pytest.mark.skipif(sys.platform == 'win32', reason='O_APPEND semantics and fork-free spawn timing: POSIX')


def _wait(start):
    assert start.wait(START_TIMEOUT_S), 'the other process did not start'


def append_lines(path, writer, start, split):
    "Child: log N_LINES records of varying size; `split` writes each line in two writes (the control)."
    _wait(start)
    if split:
        with open(path, 'ab', buffering=0) as f:
            for i in range(N_LINES):
                line = (json.dumps({'writer': writer, 'i': i, 'x': 'ab' * (SIZES[i % len(SIZES)] // 2)}) + '\n').encode()
                f.write(line[:len(line) // 2]); time.sleep(0.0005); f.write(line[len(line) // 2:])
        return
    with MetricsLogger(path) as log:
        for i in range(N_LINES): log.log(writer=writer, i=i, x='ab' * (SIZES[i % len(SIZES)] // 2))


def run_two_writers(path, split):
    ctx = mp.get_context('spawn')
    start = ctx.Event()
    procs = [ctx.Process(target=append_lines, args=(str(path), w, start, split)) for w in ('a', 'b')]
    for p in procs: p.start()
    time.sleep(0.5); start.set()
    for p in procs: p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]


@posix_only
def test_two_processes_append_without_tearing(tmp_path):
    path = tmp_path/'metrics.jsonl'
    run_two_writers(path, split=False)
    records = read_metrics(path)  # strict: any torn or glued line raises
    assert len(records) == 2 * N_LINES
    for w in 'ab':
        mine = [r for r in records if r['writer'] == w]
        assert [r['i'] for r in mine] == list(range(N_LINES))  # each writer's lines in order, none lost
        assert all(len(r['x']) == 2 * (SIZES[r['i'] % len(SIZES)] // 2) for r in mine)


@posix_only
def test_control_split_writes_do_tear(tmp_path):
    "The check can fail: writers that split each line in two writes produce malformed lines."
    path = tmp_path/'metrics.jsonl'
    a, b = json.dumps({'step': 1, 'x': 'a' * 100}) + '\n', json.dumps({'step': 2}) + '\n'
    with open(path, 'a') as f1, open(path, 'a') as f2:  # the interleaving two racing writers can produce
        for f, part in ((f1, a[:50]), (f2, b), (f1, a[50:])): f.write(part); f.flush()
    with pytest.raises(ValueError, match='is malformed'):
        read_metrics(path)


def test_one_logger_shared_by_threads(tmp_path):
    n_threads, per_thread = 4, 200
    with MetricsLogger(tmp_path/'m.jsonl') as log:
        def work(t):
            for i in range(per_thread): log.log(thread=t, i=i, x='y' * (i * 37 % 20_000))
        threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert log.n_logged == n_threads * per_thread
    records = read_metrics(tmp_path/'m.jsonl')
    assert sorted((r['thread'], r['i']) for r in records) == [(t, i) for t in range(n_threads) for i in range(per_thread)]


def tiny_model():
    return TinyTransformer(ModelConfig(vocab_size=16, d_model=16, n_heads=2, n_layers=1, max_len=16))


def save_steps(folder, steps, start):
    "Child: save `steps` through its own manager, as fast as it can."
    torch.set_num_threads(1)
    manager, model = CheckpointManager(folder, keep_last=3, keep_best=False), tiny_model()
    _wait(start)
    for step in steps:
        manager.save(step, model, metrics={'loss': float(step)}, trainer_state={'blob': torch.ones(1 << 16)})


@posix_only
def test_two_managers_save_into_one_folder(tmp_path):
    ctx = mp.get_context('spawn')
    start = ctx.Event()
    evens, odds = list(range(0, 2 * N_SAVES, 2)), list(range(1, 2 * N_SAVES, 2))
    procs = [ctx.Process(target=save_steps, args=(str(tmp_path), s, start)) for s in (evens, odds)]
    for p in procs: p.start()
    time.sleep(0.5); start.set()
    for p in procs: p.join(180)
    assert [p.exitcode for p in procs] == [0, 0]
    manager = CheckpointManager(tmp_path, keep_last=3, keep_best=False)
    steps = [read_checkpoint(p)['meta']['step'] for p in manager.checkpoints()]  # every file verifies
    assert steps[-3:] == [2 * N_SAVES - 3, 2 * N_SAVES - 2, 2 * N_SAVES - 1], steps  # the newest three survive
    assert manager.latest() == manager.path_for(2 * N_SAVES - 1)
    assert manager.temp_files() == [], manager.temp_files()


def test_model_in_eval_mode_generates_from_threads():
    from tiny_transformer.sampling import generate
    torch.manual_seed(0)
    model = TinyTransformer(ModelConfig(vocab_size=16, d_model=32, n_heads=2, n_layers=2, max_len=32)).eval()
    prompts = [[1 + i % 5, 2, 3] for i in range(8)]
    alone = [generate(model, p, 20, temperature=1.0, seed=i) for i, p in enumerate(prompts)]
    together = [None] * len(prompts)
    def work(i): together[i] = generate(model, prompts[i], 20, temperature=1.0, seed=i)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(prompts))]
    for t in threads: t.start()
    for t in threads: t.join()
    assert together == alone
    assert not model.training
