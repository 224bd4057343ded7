"""The `modern` preset (lesson 09e) through the command line: it trains, resumes exactly, samples and exports
like the other presets, and the widgets (09b) and the pretrained-model helpers (09c) take its model unchanged."""
import json, os, shutil, subprocess
from pathlib import Path
import pytest
import torch

EXE = shutil.which('tiny-transformer')
pytestmark = pytest.mark.skipif(EXE is None, reason="the tiny-transformer console script is not installed (pip install -e .)")
ENV = {**os.environ, 'TINY_TRANSFORMER_DEVICE': 'cpu', 'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1'}
SMALL = ['--preset', 'modern', '--batch-size', 4, '--context-len', 32, '--eval-interval', 0, '--quiet']


def cli(*args, timeout=300):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV)


def checkpoints(run:Path)->list[Path]: return sorted((run / 'checkpoints').glob('*.pt'))


@pytest.fixture(scope='module')
def runs(tmp_path_factory, corpus):
    "One run of 16 steps straight through, and one stopped at 8 and resumed to 16."
    root = tmp_path_factory.mktemp('modern')
    straight, resumed = root / 'straight', root / 'resumed'
    for out, steps, more in [(straight, 16, []), (resumed, 8, []), (resumed, 16, ['--resume'])]:
        r = cli('train', '--out', out, '--corpus', corpus, '--steps', steps, *SMALL, *more)
        assert r.returncode == 0, r.stderr
        assert f'trained to step {steps}' in r.stdout
    return straight, resumed


def test_the_preset_builds_every_modern_piece(runs):
    from tiny_transformer.checkpoint import load_checkpoint
    ckpt = load_checkpoint(checkpoints(runs[0])[-1])
    c = ckpt.model.config
    assert (c.norm, c.pos_encoding, c.activation, c.qk_norm, c.bias, c.tie_weights) == \
           ('rmsnorm', 'rope', 'swiglu', True, False, False)
    assert c.n_kv_heads < c.n_heads and ckpt.model.wpe is None
    assert ckpt.train_config.optimizer == 'muon'
    assert type(ckpt.model.h[0].attn).__name__ == 'GroupedQueryAttention'


def test_a_resumed_run_logs_every_step_once(runs):
    from tiny_transformer.checkpoint import read_checkpoint
    assert read_checkpoint(checkpoints(runs[1])[-1])['trainer_state']['step'] == 16
    steps = [json.loads(l)['step'] for l in (runs[1] / 'metrics.jsonl').read_text().splitlines()
             if 'loss' in json.loads(l)]
    assert steps == list(range(1, 17))


def test_resume_through_the_checkpoint_equals_a_run_that_never_stopped(tmp_path, corpus):
    "Muon's momentum and AdamW's moments come back from the file: the weights end bit for bit equal."
    from tiny_transformer.cli import train_run
    kw = dict(corpus=corpus, preset='modern', progress=False, live_plot=False, eval_interval=0, device='cpu',
              batch_size=4, context_len=32)
    train_run(tmp_path / 'a', max_steps=4, **kw)
    resumed = train_run(tmp_path / 'a', resume=True, max_steps=8, **kw)
    assert type(resumed.trainer.optimizer).__name__ == 'MuonAdamW'
    straight = train_run(tmp_path / 'b', max_steps=4, **kw)  # the same schedule, trained on in memory
    straight.trainer.callbacks.clear(); straight.trainer.checkpoint_fn = None
    straight.trainer.train(8)
    for k, v in straight.model.state_dict().items(): assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_generate_samples_from_the_modern_run(runs):
    a = cli('generate', runs[0], '--prompt', 'ROMEO:', '--max-new-tokens', 40, '--seed', 1)
    b = cli('generate', runs[0], '--prompt', 'ROMEO:', '--max-new-tokens', 40, '--seed', 1)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout and a.stdout.startswith('ROMEO:') and len(a.stdout) == len('ROMEO:') + 40 + 1


def test_hf_export_is_a_qwen3_that_transformers_loads_with_the_same_logits(runs, tmp_path):
    transformers = pytest.importorskip('transformers')
    from tiny_transformer.checkpoint import load_model
    r = cli('export', runs[0], '--format', 'hf', '--out', tmp_path / 'hf')
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / 'hf' / 'config.json').read_text())['architectures'] == ['Qwen3ForCausalLM']
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / 'hf').eval()
    ours, tok = load_model(checkpoints(runs[0])[-1])
    ids = torch.tensor([tok.encode('ROMEO: But soft, what light')])
    with torch.no_grad(): gap = (hf(ids).logits - ours(ids)[0]).abs().max().item()
    assert gap < 1e-4, gap


def test_safetensors_export_round_trips(runs, tmp_path):
    from tiny_transformer.checkpoint import load_model
    from tiny_transformer.export import load_safetensors_export
    r = cli('export', runs[0], '--format', 'safetensors', '--out', tmp_path / 'st')
    assert r.returncode == 0, r.stderr
    again, _ = load_safetensors_export(tmp_path / 'st')
    ours, tok = load_model(checkpoints(runs[0])[-1])
    ids = torch.tensor([tok.encode('KING:')])
    with torch.no_grad(): assert torch.equal(again.eval()(ids)[0], ours(ids)[0])


def test_widgets_and_pretrained_helpers_take_the_modern_model(runs):
    from tiny_transformer.checkpoint import load_model
    from tiny_transformer.pretrained import window_loss
    from tiny_transformer.widgets import (Generation, attention_explorer, attention_picture, next_token_distribution,
                                          run_text, sampling_explorer)
    model, tok = load_model(checkpoints(runs[0])[-1])
    tp = run_text(model, tok, 'ROMEO: But soft')
    assert tp.weights.shape == (model.config.n_layers, model.config.n_heads, 15, 15)
    assert abs(tp.weights.sum(-1) - 1).max() < 1e-4                       # every query row is a distribution
    assert '<svg' in attention_picture(tp, layer=1, head=None).html                  # every head of a layer
    probs, kept = next_token_distribution(tp.logits, temperature=0.8, top_k=5)
    assert int(kept.sum()) == 5 and abs(float(probs.sum()) - 1) < 1e-5
    gen = Generation(model, tok, 'KING:', seed=0)
    steps = [gen.step() for _ in range(5)]
    assert steps[-1].fed == 1 and steps[-1].weights.shape[:2] == (model.config.n_layers, model.config.n_heads)
    attention_explorer(model, tok); sampling_explorer(model, tok)         # the widgets build
    ids = torch.tensor(tok.encode(json.dumps('To be, or not to be' * 20)))
    loss = window_loss(model, ids, context_len=32)
    assert 0 < loss < 10
