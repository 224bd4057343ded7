"""Fault injection for checkpoint discovery: damaged files and killed writers.

A real checkpoint is cut off at a grid of offsets, overwritten with random bytes, emptied, replaced by a folder
or a dangling link; its bytes are flipped at random. Every such file must be a `CheckpointError` that names it,
and `CheckpointManager` must skip it with a warning and return the newest good checkpoint from `latest()`,
`best()`, `prune()` and `save()`. Writers killed with SIGKILL during saves leave temporary files; a manager
opening the folder must remove them all, and discovery must still return a good checkpoint."""
import multiprocessing as mp, os, random, signal, sys, time, warnings
import pytest, torch

from tiny_transformer.checkpoint import (CheckpointError, CheckpointManager, load_checkpoint, read_checkpoint,
                                         save_checkpoint)
from tiny_transformer.files import TMP_SUFFIX
from tiny_transformer.model import ModelConfig, TinyTransformer

from faults import stall_nth_rename

N_OFFSETS = 48  # truncation offsets, spread over the whole file (plus the first and last few bytes)
N_FLIPS = 60  # random byte-flip variants
N_KILLS = 8
BLOB_NUMEL = 1 << 18  # 1 MiB of float32 in the trainer state, so that a kill often lands during a write
READY_TIMEOUT_S = 20


def tiny_model():
    return TinyTransformer(ModelConfig(vocab_size=16, d_model=16, n_heads=2, n_layers=1, max_len=16))


@pytest.fixture
def run(tmp_path):
    "A folder with checkpoints of steps 1, 2, 3 (val_loss 3, 2, 1: the newest is also the best)."
    manager, model = CheckpointManager(tmp_path, keep_last=5), tiny_model()
    for step in (1, 2, 3): manager.save(step, model, val_loss=4.0 - step, trainer_state={'x': torch.ones(4)})
    return manager, model


def offsets(size):
    grid = {round(i * size / N_OFFSETS) for i in range(N_OFFSETS)}
    return sorted(grid | {0, 1, 3, 4, 5, 100, size - 100, size - 22, size - 1})


def assert_skipped(manager, bad, expected_step=2):
    "A fresh manager warns about `bad`, and every discovery call works around it."
    fresh = CheckpointManager(manager.directory, keep_last=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        latest = fresh.latest()
    assert latest is not None and load_checkpoint(latest).step == expected_step, latest
    assert any(str(bad) in str(w.message) for w in caught), [str(w.message) for w in caught]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert fresh.best() == latest  # best by val_loss among the good ones
        assert fresh.prune() == []  # nothing beyond keep_last; the damaged file is never deleted
        assert bad.exists() or bad.is_symlink()


def test_truncated_at_every_offset_of_a_grid(run):
    manager, _ = run
    newest = manager.latest()
    good = newest.read_bytes()
    for cut in offsets(len(good)):
        newest.write_bytes(good[:cut])
        with pytest.raises(CheckpointError, match=str(newest)):
            read_checkpoint(newest)
        assert_skipped(manager, newest)
    newest.write_bytes(good)
    assert read_checkpoint(newest)['meta']['step'] == 3  # the control: the untouched file is fine


def test_random_bytes_flipped_or_whole(run):
    manager, _ = run
    newest = manager.latest()
    good, rng = newest.read_bytes(), random.Random(0)
    for i in range(N_FLIPS):
        damaged = bytearray(good)
        for _ in range(rng.choice([1, 4, 32])): damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        newest.write_bytes(bytes(damaged))
        try: ckpt = read_checkpoint(newest)
        except CheckpointError as e: assert str(newest) in str(e)
        else: assert ckpt['meta']['step'] == 3  # a flip in zip padding: the verified content is intact
    for junk in (b'', os.urandom(5000), b'PK\x03\x04' + os.urandom(5000)):
        newest.write_bytes(junk)
        assert_skipped(manager, newest)


def test_folder_and_dangling_link_named_like_checkpoints(run):
    manager, _ = run
    newest = manager.latest()
    newest.unlink()
    newest.mkdir()
    assert_skipped(manager, newest)
    newest.rmdir()
    newest.symlink_to(manager.directory/'gone.pt')
    assert_skipped(manager, newest)


def test_save_works_beside_a_damaged_file(run):
    manager, model = run
    newest = manager.latest()
    newest.write_bytes(newest.read_bytes()[:1000])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        path = manager.save(4, model, val_loss=0.5)
        assert manager.latest() == path and manager.best() == path


# ---------------------------------------------------------------- killed writers

def saver(folder, start_step, ready, stop_in_write=None):
    """Child process: save steps start_step, start_step + 1, ... until killed. With `stop_in_write`, the second save
    stops between writing its temporary file and renaming it, sets the event and waits there to be killed."""
    torch.set_num_threads(1)
    model, manager = tiny_model(), CheckpointManager(folder, keep_last=2)
    if stop_in_write is not None: stall_nth_rename(2, stop_in_write)
    ready.set()
    for step in range(start_step, start_step + 10**6):
        manager.save(step, model, metrics={'loss': float(step)}, trainer_state={'blob': torch.full((BLOB_NUMEL,), 1.)})


@pytest.mark.skipif(sys.platform == 'win32' or 'forkserver' not in mp.get_all_start_methods(),
                    reason='needs SIGKILL and the forkserver start method (POSIX)')
def test_killed_writers_and_truncation(tmp_path):
    "SIGKILL during saves, and sometimes a truncated newest file: opening the folder leaves no temp file behind."
    ctx = mp.get_context('forkserver')
    ctx.set_forkserver_preload(['torch', 'tiny_transformer.checkpoint'])
    CheckpointManager(tmp_path, keep_last=2).save(0, tiny_model(), metrics={'loss': 0.0})
    rng, last, left_behind = random.Random(1), 0, 0
    for i in range(N_KILLS):
        ready, in_write = ctx.Event(), ctx.Event() if i % 2 else None  # odd kills land mid-write for sure
        proc = ctx.Process(target=saver, args=(str(tmp_path), last + 1, ready, in_write), daemon=True)
        proc.start()
        assert ready.wait(READY_TIMEOUT_S), 'the saver process did not start'
        if in_write is None: time.sleep(rng.uniform(0.02, 0.25))  # even kills land wherever the clock says
        else: assert in_write.wait(READY_TIMEOUT_S), f'kill {i}: the saver never reached its rename'
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        stranded = any(p.name.endswith(TMP_SUFFIX) for p in tmp_path.iterdir())
        assert stranded or in_write is None, f'kill {i}: killed before its rename, yet no temporary file'
        left_behind += stranded
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            manager = CheckpointManager(tmp_path, keep_last=2)  # opening the folder cleans up
            assert [p.name for p in tmp_path.iterdir() if p.name.endswith(TMP_SUFFIX)] == [], f'kill {i}'
            newest = manager.latest()
            assert newest is not None, f'kill {i}: no checkpoint found'
            if i % 3 == 2 and len(manager.checkpoints()) > 1:  # and damage the newest, at a random byte
                size = newest.stat().st_size
                newest.write_bytes(newest.read_bytes()[:rng.randrange(size)])
                fallback = manager.latest()
                assert fallback is not None and fallback != newest, f'kill {i}: no fallback'
                newest.unlink()  # a real run would save over it; here the next saver starts after the fallback
                newest = fallback
        step = load_checkpoint(newest).step
        assert step >= last - 1, f'kill {i}: went back from {last} to {step}'
        last = step
    assert last > 0, 'no save completed: the kills cannot have tested anything'
    assert left_behind >= N_KILLS // 2, 'the mid-write kills left no temporary file: the cleanup was never exercised'
