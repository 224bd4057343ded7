"""The pretrained model shipped in the package: it loads, it is the file its metadata describes,
it still scores the recorded loss, and loading it never touches the network."""
import json, os, subprocess, sys, textwrap
from pathlib import Path
import pytest, torch
from tiny_transformer.checkpoint import CheckpointError
from tiny_transformer.data import DATA_ENV
from tiny_transformer.files import sha256_file
from tiny_transformer.pretrained import (PRETRAINED_FILE, PRETRAINED_NAMES, asset_path, load_pretrained, nanogpt_split,
                                         pretrained_info, window_loss)

REPO = Path(__file__).resolve().parent.parent
SHARED_COPY = REPO.parent/'shared'/'data'/'tinyshakespeare.txt'  # a copy beside the repository
TOLERANCE = 0.03  # the limit: other CPUs, GPUs and PyTorch versions round differently
MAX_BYTES = 8 * 2**20


@pytest.fixture(scope='module', params=PRETRAINED_NAMES)
def name(request): return request.param  # the course model (09c) and the modern preset's (09e)


@pytest.fixture(scope='module')
def info(name): return pretrained_info(name)


@pytest.fixture(scope='module')
def pretrained(name): return load_pretrained('cpu', name=name)


def corpus_file()->Path|None:
    "The tinyshakespeare file: $TINY_TRANSFORMER_DATA, else ../shared/data/, else None."
    env = os.environ.get(DATA_ENV)
    if env and Path(env).is_file(): return Path(env)
    if env and (Path(env)/'tinyshakespeare.txt').is_file(): return Path(env)/'tinyshakespeare.txt'
    return SHARED_COPY if SHARED_COPY.is_file() else None


def test_the_shipped_file_is_the_one_the_metadata_describes(info, name):
    path = asset_path(f'{name}.pt')
    assert info['file'] == f'{name}.pt' and PRETRAINED_FILE == 'course.pt'
    assert sha256_file(path) == info['sha256'], 'weights and metadata differ: re-run make_pretrained'
    assert path.stat().st_size == info['bytes'] <= MAX_BYTES


def test_metadata_records_how_to_remake_it(info, name):
    assert 'tiny-transformer train' in info['command'] and f'--preset {name}' in info['command']
    assert info['export_command'].startswith('python tools/make_pretrained.py')
    assert len(info['corpus']['sha256']) == 64 and info['step'] > 0 and info['torch_version']
    assert 'int(n * 0.9)' in info['split']['rule'] and info['split']['note']
    assert info['curve'] and all(len(row) == 3 for row in info['curve'])


def test_loads_in_float32_eval_mode_with_its_tokenizer(info, pretrained):
    model, tok = pretrained
    assert not model.training and not any(m.training for m in model.modules())
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert {p.device.type for p in model.parameters()} == {'cpu'}
    assert model.num_params() == info['num_params']
    assert tok.vocab_size == model.config.vocab_size == info['model_config']['vocab_size']
    assert tok.decode(tok.encode('ROMEO:')) == 'ROMEO:'


def test_default_device_is_the_best_working_one(monkeypatch):
    monkeypatch.setenv('TINY_TRANSFORMER_DEVICE', 'cpu')  # honoured by get_device
    model, _ = load_pretrained()
    assert next(model.parameters()).device.type == 'cpu'


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device here')
def test_on_cuda_when_present():
    model, _ = load_pretrained()
    assert next(model.parameters()).device.type == 'cuda'


def test_loss_on_the_fixed_validation_slice_matches_the_record(info, pretrained):
    path = corpus_file()
    if path is None:
        pytest.skip(f"no tinyshakespeare copy: set ${DATA_ENV} to one, or put it at {SHARED_COPY}")
    text = path.read_text(encoding='utf-8')
    model, tok = pretrained
    val = nanogpt_split(torch.tensor(tok.encode(text), dtype=torch.long))[1]
    assert len(val) == info['split']['val_characters']
    spec = info['slice']
    loss = window_loss(model, val, n_windows=spec['windows'], context_len=spec['context_len'])
    assert abs(loss - info['val_loss_slice']) <= TOLERANCE, (loss, info['val_loss_slice'])


def test_the_modern_model_is_the_modern_preset():
    model, _ = load_pretrained('cpu', name='modern')
    c = model.config
    assert (c.norm, c.pos_encoding, c.activation, c.qk_norm, c.n_kv_heads < c.n_heads) == \
           ('rmsnorm', 'rope', 'swiglu', True, True)
    assert pretrained_info('modern')['train_config']['optimizer'] == 'muon'
    with pytest.raises(ValueError, match="ships \\['course', 'modern'\\]"): load_pretrained('cpu', name='gpt4')


def test_a_damaged_file_is_refused(tmp_path, monkeypatch):
    "The content hash catches a changed weight: a damaged file never loads silently."
    import tiny_transformer.pretrained as pretrained_mod
    bad = tmp_path/PRETRAINED_FILE
    ckpt = torch.load(asset_path(PRETRAINED_FILE), weights_only=True)
    name = next(iter(ckpt['model']))
    ckpt['model'][name] = ckpt['model'][name] + 1
    torch.save(ckpt, bad)
    monkeypatch.setattr(pretrained_mod, 'asset_path', lambda n: bad)
    with pytest.raises(CheckpointError, match='does not match the recorded'): load_pretrained('cpu')


OFFLINE = textwrap.dedent('''
    import socket, urllib.request
    def refuse(*a, **k): raise AssertionError(f"network access attempted: {a[:2]}")
    socket.socket.connect = socket.socket.connect_ex = refuse
    socket.create_connection = socket.getaddrinfo = urllib.request.urlopen = refuse
    from tiny_transformer.pretrained import load_pretrained
    from tiny_transformer.sampling import generate
    model, tok = load_pretrained()
    print(tok.decode(generate(model, tok.encode('ROMEO:'), 20, seed=0, suppress_ids=range(4))))
''')


def test_load_pretrained_works_offline_in_a_fresh_interpreter(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in (DATA_ENV, 'TINY_TRANSFORMER_CACHE')}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path/'cache'), HF_HUB_OFFLINE='1',
               http_proxy='http://127.0.0.1:9', https_proxy='http://127.0.0.1:9', NO_PROXY='',
               PYTHONPATH=os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')]))
    out = subprocess.run([sys.executable, '-c', OFFLINE], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(out.stdout.rstrip('\n')) >= 20


def test_the_offline_guard_really_refuses_the_network(tmp_path):
    "Without this, the offline test above could pass while a download went through."
    probe = OFFLINE.split('from tiny_transformer')[0] + "urllib.request.urlopen('http://x.org')\n"
    out = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and 'network access attempted' in out.stderr
