"The loss-ladder benchmark script (bench/ladder.py): its command line and the JSON it writes."
import json, os, subprocess, sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / 'bench' / 'ladder.py'


def run(*args):
    env = {**os.environ, 'PYTHONPATH': str(REPO), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=REPO, env=env)


def test_unknown_rung_is_named():
    r = run('--rungs', 'bigram,attention', '--steps', '1', '--corpus', 'shakespeare',
            '--out', '/dev/null')
    assert r.returncode != 0
    assert "unknown rung(s) ['attention']" in r.stderr and "'one_head'" in r.stderr


def test_two_rungs_write_the_json(tmp_path):
    out = tmp_path / 'ladder.json'
    r = run('--rungs', 'uniform,bigram', '--steps', '2', '--corpus', 'shakespeare',
            '--out', str(out))
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert [x['name'] for x in res['rungs']] == ['uniform', 'bigram']
    assert res['budget']['steps'] == 2 and res['machine']['threads'] == 1
    bigram = res['rungs'][1]
    keys = {'val_loss', 'train_loss', 'params', 'tokens_per_s', 'cpu_s', 'sample', 'curves'}
    assert set(bigram) >= keys
    assert len(bigram['sample']) == res['budget']['sample_len']
    assert '| `bigram` |' in r.stdout and 'load average' in r.stdout
