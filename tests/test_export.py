"Exports that travel: safetensors folders come back exactly, Hugging Face folders load in `transformers`."
import json, os
import pytest
import torch
from tiny_transformer.checkpoint import save_checkpoint
from tiny_transformer.export import (CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, ExportError, export_hf,
                                     export_safetensors, load_safetensors_export, ours_to_gpt2_state_dict,
                                     save_hf_export)
from tiny_transformer.model import ModelConfig, TinyTransformer
from tiny_transformer.tokenizer import CharTokenizer

os.environ.setdefault('HF_HUB_OFFLINE', '1')  # never reach the network from a test


def _nudged(config: ModelConfig, seed: int = 0) -> TinyTransformer:
    "A model whose every weight is moved off its init, so biases and LayerNorms are not 0 and 1."
    torch.manual_seed(seed)
    model = TinyTransformer(config).eval()
    with torch.no_grad():
        for p in model.parameters(): p.add_(0.1 * torch.randn_like(p))
    return model


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def tok():
    return CharTokenizer.from_text("to be, or not to be: that is the question")


def _gpt2_config(tok, **kw) -> ModelConfig:
    return ModelConfig(**{**dict(vocab_size=tok.vocab_size, d_model=32, n_heads=4, n_layers=2, max_len=16,
                                 activation='gelu_tanh'), **kw})


def test_safetensors_export_of_a_checkpoint_comes_back_exactly(tmp_path, tok):
    model = _nudged(_gpt2_config(tok, pos_encoding='sinusoidal', activation='gelu'))
    ckpt = save_checkpoint(tmp_path/'ckpt-00000005.pt', model, tok, step=5)
    out = export_safetensors(ckpt, tmp_path/'export')
    assert out == tmp_path/'export'
    assert sorted(p.name for p in out.iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE])
    back, back_tok = load_safetensors_export(out)
    assert back_tok == tok and not back.training
    assert _same_state(back.state_dict(), model.state_dict())
    ids = torch.tensor([tok.encode("to be or not")])
    with torch.no_grad(): assert torch.equal(back(ids)[0], model(ids)[0])


def test_a_changed_weights_file_is_refused(tmp_path, tok):
    out = export_safetensors(save_checkpoint(tmp_path/'c.pt', _nudged(_gpt2_config(tok)), tok), tmp_path/'e')
    data = bytearray((out/WEIGHTS_FILE).read_bytes()); data[-3] ^= 0x10
    (out/WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ExportError, match='changed or damaged'): load_safetensors_export(out)


@pytest.mark.parametrize('activation', ['gelu_tanh', 'gelu'])
def test_hf_export_loads_in_transformers_with_the_same_logits(tmp_path, tok, activation):
    transformers = pytest.importorskip('transformers')
    model = _nudged(_gpt2_config(tok, activation=activation), seed=1)
    out = export_hf(save_checkpoint(tmp_path/'ckpt-00000010.pt', model, tok, step=10), tmp_path/'hf')
    assert json.loads((out/CONFIG_FILE).read_text())['model_type'] == 'gpt2'
    hf = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    ids = torch.randint(0, tok.vocab_size, (3, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad(): gap = (hf(ids).logits - model(ids)[0]).abs().max().item()
    assert gap < 1e-5, gap
    assert CharTokenizer.load(out/TOKENIZER_FILE) == tok


def test_hf_to_ours_to_hf_is_exact(tmp_path):
    transformers = pytest.importorskip('transformers')
    torch.manual_seed(2)
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=16, vocab_size=30, n_positions=8,
                                     bos_token_id=0, eos_token_id=0)
    hf = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for p in hf.parameters(): p.add_(0.1 * torch.randn_like(p))
    ours = TinyTransformer.from_gpt2(hf)
    assert _same_state(ours_to_gpt2_state_dict(ours.state_dict()), hf.state_dict())  # in memory
    again = transformers.GPT2LMHeadModel.from_pretrained(save_hf_export(ours, tmp_path/'hf'))
    assert _same_state(again.state_dict(), hf.state_dict())                         # through the files


@pytest.mark.parametrize('change, named', [(dict(pos_encoding='sinusoidal'), "pos_encoding='sinusoidal'"),
                                           (dict(bias=False), 'bias=False'),
                                           (dict(tie_weights=False), 'tie_weights=False')])
def test_hf_export_refuses_other_architectures_before_writing(tmp_path, tok, change, named):
    ckpt = save_checkpoint(tmp_path/'c.pt', TinyTransformer(_gpt2_config(tok, **change)), tok)
    with pytest.raises(ValueError, match=rf"not GPT-2's architecture: .*{named}.*format 'safetensors'"):
        export_hf(ckpt, tmp_path/'hf')
    assert not (tmp_path/'hf').exists()
