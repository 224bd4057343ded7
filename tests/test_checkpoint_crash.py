"""Fault injection: a process saving checkpoints in a loop is killed with SIGKILL at random moments.

After every kill the latest checkpoint must load (its content hash verified) and be exactly one of the states
that were saved: a crash leaves the old or the new checkpoint, never a broken one, and temporary files of the
interrupted save are never taken for checkpoints."""
import multiprocessing as mp, os, random, signal, sys, time
import pytest, torch

from tiny_transformer.checkpoint import CheckpointManager, load_checkpoint, read_checkpoint, save_checkpoint
from tiny_transformer.files import TMP_SUFFIX
from tiny_transformer.model import ModelConfig, TinyTransformer

from faults import stall_nth_rename

pytestmark = pytest.mark.skipif(sys.platform == 'win32' or 'forkserver' not in mp.get_all_start_methods(),
                                reason='needs SIGKILL and the forkserver start method (POSIX)')

N_KILLS = 15  # per scenario; two scenarios -> 30 kills
BLOB_NUMEL = 1 << 18  # 1 MiB of float32 in the trainer state, so that a save takes long enough to be interrupted
MAX_WAIT_S = 0.15  # kill at a uniformly random moment in [0, MAX_WAIT_S) after the saver is ready
WRITE_JITTER_S = 0.005  # every other kill: this soon after a temporary file appears
READY_TIMEOUT_S = 20


def tiny_model():
    return TinyTransformer(ModelConfig(vocab_size=16, d_model=16, n_heads=2, n_layers=1, max_len=16))


def fill_state(model, step):
    "Make the model and trainer state identifiable: every value equals `step`."
    with torch.no_grad():
        for p in model.parameters(): p.fill_(float(step))
    return {'blob': torch.full((BLOB_NUMEL,), float(step)), 'step': step}


def check_state(ckpt, where):
    "The loaded checkpoint is one coherent saved state: all weights, the blob and the metadata agree on its step."
    step = ckpt.step
    assert ckpt.metrics == {'loss': float(step)}, where
    assert ckpt.trainer_state['step'] == step, where
    assert all(torch.all(t == float(step)) for t in ckpt.model.state_dict().values()), f'{where}: weights of mixed states'
    assert torch.all(ckpt.trainer_state['blob'] == float(step)), f'{where}: trainer state of another step'
    return step


def saver(mode, folder, start_step, ready, stop_in_write=None):
    "Child process: save steps start_step, start_step + 1, ... until killed (with `stop_in_write`: in its second save's rename)."
    torch.set_num_threads(1)
    model, manager = tiny_model(), CheckpointManager(folder, keep_last=2)
    if stop_in_write is not None: stall_nth_rename(2, stop_in_write)
    ready.set()
    for step in range(start_step, start_step + 10**6):
        state = fill_state(model, step)
        if mode == 'file': save_checkpoint(os.path.join(folder, 'latest.pt'), model, step=step, metrics={'loss': float(step)}, trainer_state=state)
        else: manager.save(step, model, metrics={'loss': float(step)}, trainer_state=state)


@pytest.fixture(scope='module')
def ctx():
    ctx = mp.get_context('forkserver')
    ctx.set_forkserver_preload(['torch', 'tiny_transformer.checkpoint'])  # children start in milliseconds
    return ctx


def wait_for_write(folder, timeout=1.0):
    "Wait until a temporary file shows that a save is being written; False on timeout."
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(p.name.endswith(TMP_SUFFIX) for p in folder.iterdir()): return True
        time.sleep(0.0005)
    return False


def kill_loop(ctx, mode, folder, latest_of):
    "Start the saver, kill it with SIGKILL (at a random moment, or one time in four mid-write), check the latest checkpoint; N_KILLS times."
    rng, last, interrupted = random.Random(0), 0, 0
    for i in range(N_KILLS):
        ready, in_write = ctx.Event(), ctx.Event() if i % 4 == 3 else None
        proc = ctx.Process(target=saver, args=(mode, str(folder), last + 1, ready, in_write), daemon=True)
        proc.start()
        assert ready.wait(READY_TIMEOUT_S), 'the saver process did not start'
        if in_write is not None: assert in_write.wait(READY_TIMEOUT_S), f'kill {i}: the saver never reached its rename'  # surely mid-save
        elif i % 2 and wait_for_write(folder): time.sleep(rng.uniform(0, WRITE_JITTER_S))  # aim at the middle of a write
        else: time.sleep(rng.uniform(0, MAX_WAIT_S))  # anywhere: building, hashing, writing, renaming, pruning
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        assert proc.exitcode == -signal.SIGKILL, f'kill {i}: the saver ended on its own ({proc.exitcode})'
        temps = [p for p in folder.iterdir() if p.name.endswith(TMP_SUFFIX)]
        assert temps or in_write is None, f'kill {i}: killed before its rename, yet no temporary file'
        interrupted += bool(temps)
        path = latest_of(folder)
        assert not path.name.endswith(TMP_SUFFIX) and not path.name.startswith('.'), path
        step = check_state(load_checkpoint(path), f'kill {i}, {path.name}')
        assert step >= last, f'kill {i}: went back from step {last} to {step}'
        last = step
        for t in temps: t.unlink(missing_ok=True)  # save_checkpoint alone leaves them; a manager removes them
    print(f'{mode}: {N_KILLS} kills, {interrupted} during a write, reached step {last}')
    return last, interrupted


def test_sigkill_during_save_checkpoint(tmp_path, ctx):
    "Replacing one file: after each kill it holds a complete state, old or new."
    model = tiny_model()
    save_checkpoint(tmp_path/'latest.pt', model, step=0, metrics={'loss': 0.0}, trainer_state=fill_state(model, 0))
    last, interrupted = kill_loop(ctx, 'file', tmp_path, lambda folder: folder/'latest.pt')
    assert last > 0, 'no save completed: the kills cannot have tested anything'
    assert interrupted > 0, 'no kill landed during a write (no temporary file was ever left); raise MAX_WAIT_S or BLOB_NUMEL'


def manager_latest(folder):
    "Open the folder as a run would: the temporary files of killed saves are gone, then find the latest."
    manager = CheckpointManager(folder, keep_last=2)
    assert manager.temp_files() == [], 'opening the folder must remove the temporary files of killed saves'
    return manager.latest()


def test_sigkill_during_manager_save(tmp_path, ctx):
    "CheckpointManager: the latest verified checkpoint survives kills during saves and pruning."
    model = tiny_model()
    CheckpointManager(tmp_path, keep_last=2).save(0, model, metrics={'loss': 0.0}, trainer_state=fill_state(model, 0))
    last, interrupted = kill_loop(ctx, 'manager', tmp_path, manager_latest)
    assert last > 0 and interrupted > 0, (last, interrupted)
    manager = CheckpointManager(tmp_path, keep_last=2)
    manager.prune()  # a kill during pruning leaves extra files, never a broken one; the next prune catches up
    assert [p.name for p in manager.checkpoints()] == [f'ckpt-{s:08d}.pt' for s in (last - 1, last)]


def test_a_non_atomic_save_does_break(tmp_path):
    "The control experiment: writing in place (the earlier version's torch.save(obj, path)) leaves a broken file."
    model = tiny_model()
    path = tmp_path/'latest.pt'
    save_checkpoint(path, model, step=0, metrics={'loss': 0.0}, trainer_state=fill_state(model, 0))
    good = path.read_bytes()
    path.write_bytes(good[:len(good) // 2])  # what a kill half way through an in-place write leaves
    with pytest.raises(ValueError, match='corrupt'): read_checkpoint(path)
