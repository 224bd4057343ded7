"The model's forward and backward compile into one graph: no validation inside the compiled region breaks it."
import pytest, torch
from tiny_transformer.model import IGNORE_INDEX, ModelConfig, TinyTransformer

torch._dynamo = pytest.importorskip('torch._dynamo', reason='torch.compile needs torch._dynamo')

MODERN = dict(norm='rmsnorm', pos_encoding='rope', activation='swiglu', n_kv_heads=1, qk_norm=True, bias=False,
              tie_weights=False)  # every option of lesson 09e

@pytest.mark.parametrize('arch', [{}, MODERN], ids=['gpt2', 'modern'])
@pytest.mark.parametrize('padded', [False, True], ids=['causal', 'padding_mask'])
def test_fullgraph_forward_backward(padded, arch):
    "torch.compile(fullgraph=True) raises on any graph break; compiled loss and gradients equal eager ones."
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = TinyTransformer(ModelConfig(vocab_size=11, d_model=16, n_heads=2, n_layers=1, max_len=8, dropout=0.0,
                                        **arch))
    idx, targets = torch.randint(0, 11, (2, 8)), torch.randint(0, 11, (2, 8))
    targets[0, :3] = IGNORE_INDEX
    kwargs = dict(padding_mask=torch.tensor([[False] * 3 + [True] * 5, [True] * 8])) if padded else {}
    compiled = torch.compile(model, fullgraph=True, backend='aot_eager')  # traces forward and backward, no codegen
    _, loss = compiled(idx, targets, **kwargs)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    _, eager_loss = model(idx, targets, **kwargs)
    eager_loss.backward()
    torch.testing.assert_close(loss, eager_loss)
    for n, p in model.named_parameters(): torch.testing.assert_close(grads[n], p.grad, msg=n)
