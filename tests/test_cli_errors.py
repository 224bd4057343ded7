"""Every mistake a user can make with `tiny-transformer` ends in exactly one line on stderr that names what was
passed, exit status 2, and no traceback — for every subcommand. Most cases run `main([...])` in-process (fast); a
few run the real command in a subprocess. A failed `train` leaves no half-made run folder."""
import errno, gzip, io, json, os, subprocess, sys
from pathlib import Path
import pytest, torch
from tiny_transformer import cli
from tiny_transformer.checkpoint import DiskSpaceError

HAS_CUDA = torch.cuda.is_available()
no_cuda = pytest.mark.skipif(HAS_CUDA, reason='this machine has CUDA, so --device cuda is not an error here')


@pytest.fixture(autouse=True)
def _no_device_env(monkeypatch):
    monkeypatch.delenv('TINY_TRANSFORMER_DEVICE', raising=False)


@pytest.fixture(scope='module')
def paths(tmp_path_factory):
    "A trained tiny run and the bad files the table points at."
    from tiny_transformer.data import load_corpus
    tmp = tmp_path_factory.mktemp('cli_errors')
    p = dict(tmp=tmp, corpus=tmp/'corpus.txt', run=tmp/'run', empty=tmp/'empty', file=tmp/'a_file.txt',
             bad_gz=tmp/'bad.gz', cut_gz=tmp/'cut.gz', other=tmp/'other.txt', corrupt=tmp/'corrupt.pt')
    p['corpus'].write_text(load_corpus()[:20_000], encoding='utf-8')
    p['empty'].mkdir(); p['file'].write_text('not a folder')
    p['bad_gz'].write_bytes(b'plain text, not gzip')
    p['cut_gz'].write_bytes(gzip.compress(b'To be, or not to be. ' * 200)[:30])
    p['other'].write_text('Zebras \u00e9chang\u00e8rent \u00e6ternally', encoding='utf-8')
    p['corrupt'].write_bytes(b'PK\x03\x04' + b'\x00' * 100)
    status = cli.main(['train', '--out', str(p['run']), '--corpus', str(p['corpus']), '--steps', '5', '--quiet'],
                      out=io.StringIO())
    assert status == 0
    return p


def run_main(argv, capsys):
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_clear_line(status, err, needle):
    assert status == 2, (status, err)
    assert 'Traceback' not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, f'expected one line on stderr, got {len(lines)}:\n{err}'
    assert needle in lines[0], lines[0]


T = ['train', '--out', '{tmp}/new', '--corpus', '{corpus}', '--quiet']
CASES = {  # name: (argv, text the one line must contain)
    'train --steps -1': (T + ['--steps', '-1'], 'argument --steps: expected an integer >= 1, got -1'),
    'train --steps 0': (T + ['--steps', '0'], 'argument --steps: expected an integer >= 1, got 0'),
    'train --seed -1': (T + ['--seed', '-1'], 'argument --seed: expected an integer >= 0, got -1'),
    'train --lr text': (T + ['--lr', 'abc'], "argument --lr: expected a number > 0, got 'abc'"),
    'train --lr 0': (T + ['--lr', '0'], "argument --lr: expected a finite number > 0, got '0'"),
    'train --lr inf': (T + ['--lr', 'inf'], "got 'inf'"),
    'train --warmup -3': (T + ['--warmup', '-3'], 'argument --warmup'),
    'train unknown flag': (T + ['--stepz', '5'], '--stepz'),
    'train unknown preset': (T + ['--preset', 'huge'], "'huge'"),
    'train --device tpu': (T + ['--device', 'tpu'], '--device tpu'),
    'train --precision fp8': (T + ['--precision', 'fp8', '--steps', '2'], "'fp8'"),
    'train --schedule': (T + ['--schedule', 'cosine', '--steps', '2'], "'cosine'"),
    'train --dropout 1.5': (T + ['--dropout', '1.5', '--steps', '2'], 'dropout'),
    'train heads do not divide': (T + ['--d-model', '30', '--n-heads', '4', '--steps', '2'], 'n_heads (4)'),
    'train --context-len > max_len': (T + ['--context-len', '100', '--steps', '2'], 'context_len=100'),
    'train corpus not gzip': (['train', '--out', '{tmp}/new', '--corpus', '{bad_gz}'], 'bad.gz'),
    'train corpus truncated gzip': (['train', '--out', '{tmp}/new', '--corpus', '{cut_gz}'], 'cut.gz'),
    'train corpus missing': (['train', '--out', '{tmp}/new', '--corpus', '{tmp}/missing.txt'], 'missing.txt'),
    'train --out is a file': (['train', '--out', '{file}', '--corpus', '{corpus}'], 'a_file.txt'),
    'train --resume without checkpoints': (['train', '--out', '{empty}', '--resume', '--corpus', '{corpus}'],
                                           'nothing to resume'),
    'train over an existing run': (['train', '--out', '{run}', '--corpus', '{corpus}'], 'already holds checkpoints'),
    'train resume another model': (['train', '--out', '{run}', '--corpus', '{corpus}', '--resume', '--preset', 'cpu'],
                                   'd_model: checkpoint 64, model 128'),
    'train resume another corpus': (['train', '--out', '{run}', '--corpus', '{other}', '--resume'], 'Z\u00e6\u00e8\u00e9'),
    'generate missing run': (['generate', '{tmp}/nowhere'], 'nowhere'),
    'generate folder without checkpoints': (['generate', '{empty}'], 'no valid checkpoint'),
    'generate corrupt checkpoint': (['generate', '{corrupt}'], 'corrupt.pt'),
    'generate empty prompt': (['generate', '{run}', '--prompt', ''], 'prompt is empty'),
    'generate unknown characters': (['generate', '{run}', '--prompt', 'snow \u2603'], '\u2603'),
    'generate --temperature -1': (['generate', '{run}', '--temperature', '-1'], 'temperature must be >= 0'),
    'generate --top-p 2': (['generate', '{run}', '--top-p', '2'], 'top_p must be in (0, 1], got 2'),
    'generate --top-k 0': (['generate', '{run}', '--top-k', '0'], 'top_k must be >= 1, got 0'),
    'generate --max-new-tokens -5': (['generate', '{run}', '--max-new-tokens', '-5'], 'got -5'),
    'generate --seed -1': (['generate', '{run}', '--seed', '-1'], 'argument --seed'),
    'generate --temperature text': (['generate', '{run}', '--temperature', 'hot'], "'hot'"),
    'generate --device tpu': (['generate', '{run}', '--device', 'tpu'], '--device tpu'),
    'demo --steps 0': (['demo', '--out', '{tmp}/demo', '--steps', '0'], 'argument --steps'),
    'demo --out is a file': (['demo', '--out', '{file}', '--steps', '1'], 'a_file.txt'),
    'export missing run': (['export', '{tmp}/nowhere', '--format', 'hf', '--out', '{tmp}/exp'], 'nowhere'),
    'export unknown format': (['export', '{run}', '--format', 'onnx', '--out', '{tmp}/exp'], "'onnx'"),
    'export --out is a file': (['export', '{run}', '--format', 'safetensors', '--out', '{file}'], 'a_file.txt'),
    'course --port 0': (['course', '--port', '0'], 'argument --port'),
    'no command': ([], 'command'),
    'unknown command': (['fly'], "'fly'"),
}
NO_CUDA_CASES = {
    'train --device cuda': (T + ['--device', 'cuda'], '--device cuda'),
    'generate --device cuda': (['generate', '{run}', '--device', 'cuda'], '--device cuda'),
}


def _argv(argv, paths): return [a.format(**paths) for a in argv]


@pytest.mark.parametrize('name', list(CASES))
def test_bad_input_is_one_line_and_status_2(name, paths, capsys):
    argv, needle = CASES[name]
    status, out, err = run_main(_argv(argv, paths), capsys)
    assert_one_clear_line(status, err, needle)
    assert out == '', out  # nothing on stdout: not even the prompt
    assert not (paths['tmp']/'new').exists(), 'a failed train left a half-made run folder'
    assert not (paths['empty']/'checkpoints').exists() and not (paths['empty']/'metrics.jsonl').exists()


@no_cuda
@pytest.mark.parametrize('name', list(NO_CUDA_CASES))
def test_cuda_without_cuda(name, paths, capsys):
    argv, needle = NO_CUDA_CASES[name]
    status, out, err = run_main(_argv(argv, paths), capsys)
    assert_one_clear_line(status, err, needle)
    assert out == '' and not (paths['tmp']/'new').exists()


@pytest.mark.parametrize('device', ['tpu'] + ([] if HAS_CUDA else ['cuda']))
def test_info_with_a_bad_device_variable(device, monkeypatch, capsys):
    monkeypatch.setenv('TINY_TRANSFORMER_DEVICE', device)
    status, out, err = run_main(['info'], capsys)
    assert_one_clear_line(status, err, f'TINY_TRANSFORMER_DEVICE={device}')


def test_interactive_validates_before_reading_input(paths, monkeypatch, capsys):
    class Unreadable:
        def __iter__(self): raise AssertionError('stdin was read before the settings were checked')
    monkeypatch.setattr(sys, 'stdin', Unreadable())
    status, out, err = run_main(['generate', str(paths['run']), '--interactive', '--top-p', '2'], capsys)
    assert_one_clear_line(status, err, 'top_p')
    assert out == ''


def test_interactive_loads_once_and_keeps_errors_off_stdout(paths, monkeypatch, capsys):
    calls = []
    real = cli.load_model
    monkeypatch.setattr(cli, 'load_model', lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(sys, 'stdin', io.StringIO('the \nsnow \u2603\nand \n'))
    status, out, err = run_main(['generate', str(paths['run']), '--interactive', '--max-new-tokens', '10',
                                 '--seed', '0'], capsys)
    assert calls == [1]
    assert_one_clear_line(status, err, '\u2603')  # the bad line: one error, and the next line is still answered
    assert len(out) == 2 * (10 + 1) and 'error' not in out  # two answers of 10 characters and a newline each


def test_disk_full_during_the_save(paths, monkeypatch, capsys):
    def full(self, *a, **k): raise DiskSpaceError("not enough disk space in 'runs': 0 bytes free; free some space")
    monkeypatch.setattr(cli.CheckpointManager, 'save', full)
    status, out, err = run_main(T[:1] + ['--out', str(paths['tmp']/'full'), '--corpus', str(paths['corpus']),
                                         '--steps', '3', '--quiet'], capsys)
    assert_one_clear_line(status, err, 'not enough disk space')
    assert not (paths['tmp']/'full').exists(), 'a run without a checkpoint must leave nothing behind'


def test_read_only_disk(paths, monkeypatch, capsys):
    def read_only(directory, **kw): raise OSError(errno.EROFS, 'Read-only file system', str(directory))
    monkeypatch.setattr(cli, 'CheckpointManager', read_only)
    status, out, err = run_main(['train', '--out', str(paths['tmp']/'ro'), '--corpus', str(paths['corpus']),
                                 '--steps', '2', '--quiet'], capsys)
    assert_one_clear_line(status, err, 'Read-only file system')
    assert 'write somewhere else' in err and not (paths['tmp']/'ro').exists()


def test_corpus_offline_in_process(paths, monkeypatch, tmp_path, capsys):
    import urllib.error, urllib.request
    def offline(*a, **k): raise urllib.error.URLError('no network')
    monkeypatch.setattr(urllib.request, 'urlopen', offline)
    monkeypatch.setenv('TINY_TRANSFORMER_CACHE', str(tmp_path))
    monkeypatch.delenv('TINY_TRANSFORMER_DATA', raising=False)
    status, out, err = run_main(['train', '--out', str(tmp_path/'r'), '--corpus', 'tinyshakespeare'], capsys)
    assert_one_clear_line(status, err, 'TINY_TRANSFORMER_DATA')
    assert not (tmp_path/'r').exists()


def test_resume_drops_metrics_rows_past_the_checkpoint(paths, tmp_path, capsys):
    "A crash after the checkpoint of step 5 left rows 6-8 in the log; the resumed run logs every step once."
    run = tmp_path/'crashed'
    base = ['train', '--out', str(run), '--corpus', str(paths['corpus']), '--quiet']
    assert cli.main(base + ['--steps', '5'], out=io.StringIO()) == 0
    with open(run/'metrics.jsonl', 'a') as f:
        for s in (6, 7, 8): f.write(json.dumps(dict(step=s, loss=9.9)) + '\n')
    assert cli.main(base + ['--steps', '10', '--resume'], out=io.StringIO()) == 0
    rows = [json.loads(l) for l in (run/'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in rows if 'loss' in r] == list(range(1, 11))
    assert 9.9 not in [r['loss'] for r in rows if 'loss' in r]


def test_course_without_notebooks_or_jupyterlab(monkeypatch, capsys):
    monkeypatch.setattr(cli, 'find_lessons', lambda: None)
    status, out, err = run_main(['course'], capsys)
    assert_one_clear_line(status, err, 'git clone')
    monkeypatch.setattr(cli, 'find_lessons', lambda: Path('.'))
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(cli.importlib.util, 'find_spec', lambda n, *a: None if n == 'jupyterlab' else real(n, *a))
    status, out, err = run_main(['course'], capsys)
    assert_one_clear_line(status, err, "pip install 'tiny-transformer[course]'")


def test_help_is_not_an_error(capsys):
    status, out, err = run_main(['train', '--help'], capsys)
    assert status == 0 and '--compile' in out and err == ''


# --- the real command, in a subprocess ---------------------------------------------------------------------------

def real(*args, input=None, env=None, timeout=120):
    env = {**os.environ, 'MPLBACKEND': 'Agg', **(env or {})}
    env.pop('TINY_TRANSFORMER_DEVICE', None) if 'TINY_TRANSFORMER_DEVICE' not in (env or {}) else None
    return subprocess.run([sys.executable, '-m', 'tiny_transformer.cli', *map(str, args)], capture_output=True,
                          text=True, input=input, env=env, timeout=timeout)


def test_real_process_bad_flag(paths):
    r = real('train', '--out', paths['tmp']/'new', '--steps', '-1')
    assert_one_clear_line(r.returncode, r.stderr, 'argument --steps: expected an integer >= 1, got -1')


def test_real_process_offline_corpus(tmp_path):
    env = {'TINY_TRANSFORMER_CACHE': str(tmp_path/'cache'), 'https_proxy': 'http://127.0.0.1:9',
           'HTTPS_PROXY': 'http://127.0.0.1:9', 'no_proxy': '', 'NO_PROXY': '', 'TINY_TRANSFORMER_DATA': ''}
    r = real('train', '--out', tmp_path/'r', '--corpus', 'tinyshakespeare', env=env)
    assert_one_clear_line(r.returncode, r.stderr, 'tinyshakespeare')
    assert not (tmp_path/'r').exists()


@no_cuda
def test_real_process_info_with_cuda_asked_for():
    r = real('info', env={'TINY_TRANSFORMER_DEVICE': 'cuda'})
    assert_one_clear_line(r.returncode, r.stderr, 'TINY_TRANSFORMER_DEVICE=cuda')


def test_real_process_interactive_bad_setting_reads_nothing(paths):
    r = real('generate', paths['run'], '--interactive', '--temperature', '-1', input='ROMEO:\n')
    assert_one_clear_line(r.returncode, r.stderr, 'temperature')
    assert r.stdout == ''


def test_output_piped_into_head_ends_quietly(paths):
    "A reader that stops early (`| head -c 5`): status 0 and nothing on stderr, like other Unix tools."
    env = {k: v for k, v in os.environ.items() if k != 'TINY_TRANSFORMER_DEVICE'}
    p = subprocess.Popen([sys.executable, '-m', 'tiny_transformer.cli', 'generate', str(paths['run']),
                          '--max-new-tokens', '20000', '--seed', '0'], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    assert len(p.stdout.read(5)) == 5
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0, err
    assert err == '', err
