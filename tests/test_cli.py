"The `tiny-transformer` command as a user runs it: in a subprocess, from the installed console script."
import importlib.util, json, os, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]

EXE = shutil.which('tiny-transformer')
pytestmark = pytest.mark.skipif(EXE is None, reason="the tiny-transformer console script is not installed (pip install -e .)")
ENV = {**os.environ, 'TINY_TRANSFORMER_DEVICE': 'cpu', 'MPLBACKEND': 'Agg'}


def cli(*args, input=None, timeout=180):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, input=input, timeout=timeout, env=ENV)


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory, corpus):
    "A tiny trained run, shared by the generate tests."
    out = tmp_path_factory.mktemp('run')
    r = cli('train', '--out', out, '--corpus', corpus, '--preset', 'tiny', '--steps', 30, '--quiet')
    assert r.returncode == 0, r.stderr
    assert 'trained to step 30' in r.stdout
    return out


def test_demo_trains_then_samples(tmp_path):
    r = cli('demo', '--out', tmp_path / 'demo', '--steps', 20)
    assert r.returncode == 0, r.stderr
    assert 'step 20: loss' in r.stdout
    sample = r.stdout.split('ROMEO:', 1)[1]
    assert len(sample.strip()) > 50
    assert (tmp_path / 'demo' / 'metrics.jsonl').stat().st_size > 0


def test_generate_is_reproducible_and_uses_the_saved_vocabulary(run_dir):
    a = cli('generate', run_dir, '--prompt', 'KING:', '--max-new-tokens', 60, '--seed', 3)
    b = cli('generate', run_dir, '--prompt', 'KING:', '--max-new-tokens', 60, '--seed', 3)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout and a.stdout.startswith('KING:')
    # 60 new characters (special tokens are never sampled), then the one newline the command ends with
    assert len(a.stdout) == len('KING:') + 60 + 1 and a.stdout.endswith('\n')
    from tiny_transformer.checkpoint import load_model
    _, tok = load_model(sorted((run_dir / 'checkpoints').glob('*.pt'))[-1])
    assert set(a.stdout) - {'\n'} <= set(tok.chars)


def test_interactive_generation_answers_each_prompt(run_dir):
    r = cli('generate', run_dir, '--interactive', '--max-new-tokens', 20, '--seed', 0, input='ROMEO:\nJULIET:\n')
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.split('\n') if l]
    assert len(r.stdout) >= 40 and len(lines) >= 2


@pytest.mark.parametrize('args, message', [
    (['generate', '{tmp}/nowhere'], 'does not exist'),
    (['generate', '{run}', '--prompt', 'snow \u2603'], '\u2603'),
    (['generate', '{run}', '--temperature', '-1'], 'temperature'),
    (['train', '--out', '{run}', '--steps', '5'], 'already holds checkpoints'),
    (['train', '--out', '{tmp}/x', '--steps', '-1'], 'argument --steps: expected an integer >= 1, got -1'),
    (['train', '--out', '{tmp}/x', '--corpus', '{tmp}/missing.txt'], 'missing.txt'),
])
def test_bad_input_gives_one_clear_line_and_status_2(run_dir, tmp_path, args, message):
    r = cli(*[a.format(tmp=tmp_path, run=run_dir) for a in args])
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert message in r.stderr and 'Traceback' not in r.stderr, r.stderr


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path, corpus):
    out = tmp_path / 'killed'
    proc = subprocess.Popen([EXE, 'train', '--out', str(out), '--corpus', str(corpus), '--preset', 'tiny', '--steps', '2000', '--quiet'],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = out / 'checkpoints' / 'ckpt-00000100.pt'
    deadline = time.time() + 120
    while not first.exists() and time.time() < deadline and proc.poll() is None: time.sleep(0.2)
    proc.send_signal(signal.SIGKILL); proc.wait()
    assert first.exists(), proc.stderr.read().decode()
    r = cli('train', '--out', out, '--corpus', corpus, '--preset', 'tiny', '--steps', 150, '--resume', '--quiet')
    assert r.returncode == 0, r.stderr
    assert 'trained to step 150' in r.stdout
    steps = [json.loads(l)['step'] for l in (out / 'metrics.jsonl').read_text().splitlines() if '"loss"' in l]
    assert steps == list(range(1, 151)), 'every step appears once in metrics.jsonl after a crash and resume'
    g = cli('generate', out, '--prompt', 'A', '--max-new-tokens', 10, '--seed', 0)
    assert g.returncode == 0 and len(g.stdout) == 1 + 10 + 1, g.stderr


def test_doctor_checks_the_install():
    r = cli('doctor', timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ('imports', 'device', 'corpus', 'training', 'sampling'): assert f'ok    {name}:' in r.stdout, r.stdout
    assert 'pretrained:' in r.stdout and 'all checks passed' in r.stdout


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.mark.skipif(importlib.util.find_spec('jupyterlab') is None, reason="JupyterLab is not installed (the course extra)")
def test_course_starts_jupyterlab_on_lesson_00a(tmp_path):
    port, token = _free_port(), 'course-test'
    jupyter_dirs = {v: str(tmp_path / v.lower()) for v in ('JUPYTER_CONFIG_DIR', 'JUPYTER_DATA_DIR', 'JUPYTER_RUNTIME_DIR',
                                                           'JUPYTERLAB_SETTINGS_DIR')}  # nothing shared with other servers
    proc = subprocess.Popen([EXE, 'course', '--port', str(port), '--no-browser', f'--IdentityProvider.token={token}',
                             '--ServerApp.ip=127.0.0.1', *(['--allow-root'] if os.geteuid() == 0 else [])], cwd=REPO,
                            env={**ENV, **jupyter_dirs}, stdout=open(tmp_path / 'server.log', 'w'),
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline, page, lesson = time.time() + 120, None, None
        while time.time() < deadline and proc.poll() is None:
            try:
                base = f'http://127.0.0.1:{port}'
                with urllib.request.urlopen(f'{base}/lab/tree/00a_setup.ipynb?token={token}', timeout=5) as r: page = r.read().decode()
                with urllib.request.urlopen(f'{base}/api/contents/00a_setup.ipynb?token={token}', timeout=5) as r: lesson = json.load(r)
                break
            except OSError: time.sleep(0.5)
        assert lesson is not None, (f'JupyterLab did not serve lesson 00a (status {proc.poll()}):\n'
                                    + (tmp_path / 'server.log').read_text()[-3000:])
        assert proc.poll() is None, 'the server stopped by itself'
        assert 'JupyterLab' in page and lesson['name'] == '00a_setup.ipynb' and lesson['type'] == 'notebook'
    finally:  # the whole session: tiny-transformer and the JupyterLab it started
        try: os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError: pass
        try: proc.wait(timeout=30)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()


@pytest.mark.skipif(importlib.util.find_spec('tiny_transformer.export') is None, reason="export module not merged yet")
@pytest.mark.parametrize('fmt', ['safetensors', 'hf'])
def test_export_writes_a_folder(run_dir, tmp_path, fmt):
    r = cli('export', run_dir, '--format', fmt, '--out', tmp_path / fmt)
    if fmt == 'hf' and r.returncode == 2: assert 'Traceback' not in r.stderr and len(r.stderr.splitlines()) == 1
    else: assert r.returncode == 0 and any((tmp_path / fmt).iterdir()), r.stderr
