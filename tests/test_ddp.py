"""DDP through `torchrun` (gloo, CPU, 2 processes) with the real command line: `tiny-transformer train` on two
processes gives the loss curve of one process with the same global batch.

The trainer draws the whole global batch (batch_size x grad_accum_steps x world_size windows) from one seeded
generator on every process and each process keeps its own slice, so 1 process x 2 micro-batches and 2 processes x 1
micro-batch train on exactly the same windows; only the order of float additions differs.
"""
import json, os, random, subprocess, sys
import pytest

TIMEOUT_S = 180  # per launch; the whole file takes ~30-60 s on a 2-core CPU
REL_TOL = 1e-4   # float32 sums in a different order (gloo all-reduce vs local accumulation)


def _corpus(path):
    rng = random.Random(0)
    words = 'the king queen speak of love and war my lord good night sweet prince to be or not'.split()
    path.write_text(' '.join(rng.choice(words) for _ in range(6000)) + '\n')
    return str(path)


def _launch(tmp_path, name, launcher, grad_accum, batch_size=4):
    args = ['-m', 'tiny_transformer.cli', 'train', '--out', str(tmp_path / name), '--corpus', str(tmp_path / 'corpus.txt'),
            '--preset', 'tiny', '--steps', '6', '--warmup', '2', '--batch-size', str(batch_size),
            '--grad-accum', str(grad_accum), '--context-len', '32', '--d-model', '32', '--n-layers', '2',
            '--n-heads', '2', '--lr', '3e-3', '--seed', '0', '--eval-interval', '0', '--device', 'cpu', '--quiet']
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'TINY_TRANSFORMER_DEVICE': 'cpu'}
    return subprocess.Popen([sys.executable, *launcher, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)


def _result(tmp_path, name, proc):
    try: out, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill(); out, _ = proc.communicate()
        pytest.fail(f'{name} ran past {TIMEOUT_S} s:\n{out[-3000:]}')
    assert proc.returncode == 0, f'{name} failed (rc={proc.returncode}):\n{out[-5000:]}'
    from tiny_transformer.checkpoint import read_checkpoint
    run = tmp_path / name
    ckpts = sorted((run / 'checkpoints').glob('ckpt-*.pt'))
    state = read_checkpoint(ckpts[-1])['trainer_state']
    rows = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines()]
    return dict(history=[r for r in rows if 'loss' in r], world_size=state['world_size'], stdout=out,
                files=sorted(p.name for p in run.iterdir()), checkpoints=[p.name for p in ckpts])


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ddp')
    _corpus(tmp / 'corpus.txt')
    # the two single-process runs share the 2 cores (one thread each); then the 2-process run gets both
    single = dict(one=_launch(tmp, 'one', [], grad_accum=2),
                  half=_launch(tmp, 'half', [], grad_accum=1))  # 1 process, half the global batch: must differ
    res = {name: _result(tmp, name, proc) for name, proc in single.items()}
    torchrun = ['-m', 'torch.distributed.run', '--standalone', '--nnodes=1', '--nproc_per_node=2']
    res['two'] = _result(tmp, 'two', _launch(tmp, 'two', torchrun, grad_accum=1))
    return res


def _curve(run, key='loss'): return [r[key] for r in run['history']]


def test_ddp_loss_curve_matches_one_process(runs):
    one, two = runs['one'], runs['two']
    assert (one['world_size'], two['world_size']) == (1, 2)
    assert _curve(one, 'step') == _curve(two, 'step') == [1, 2, 3, 4, 5, 6]
    assert _curve(one, 'lr') == _curve(two, 'lr')
    for a, b in zip(_curve(one), _curve(two)): assert a == pytest.approx(b, rel=REL_TOL)
    print('max relative loss difference, 1 vs 2 processes:', max(abs(a - b) / abs(b) for a, b in zip(_curve(one), _curve(two))))
    for a, b in zip(_curve(one, 'grad_norm'), _curve(two, 'grad_norm')): assert a == pytest.approx(b, rel=1e-3)
    assert _curve(two)[-1] < _curve(two)[0]  # it trains


def test_the_comparison_is_sensitive_to_the_data(runs):
    "Rank 1's shard counts: dropping it (one process, half the global batch) changes the curve far beyond the tolerance."
    diffs = [abs(a - b) / abs(b) for a, b in zip(_curve(runs['half']), _curve(runs['two']))]
    assert max(diffs) > 10 * REL_TOL, diffs


def test_metrics_are_global(runs):
    "tokens/s counts both processes; every row has the documented keys."
    for run in (runs['one'], runs['two']):
        assert all(set(r) == {'step', 'loss', 'lr', 'grad_norm', 'tokens_per_s'} for r in run['history'])
        assert all(r['tokens_per_s'] > 0 for r in run['history'])


def test_only_rank_0_writes_and_prints(runs):
    "One metrics row per step (not one per process), one final checkpoint, one 'trained to' line."
    two = runs['two']
    assert two['files'] == ['checkpoints', 'metrics.jsonl'] and two['checkpoints'] == ['ckpt-00000006.pt']
    assert two['stdout'].count('trained to step 6') == 1 and 'on 2 process(es)' in two['stdout']
