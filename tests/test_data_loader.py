"DataLoader workers: the same seed gives the same batches across runs and across worker counts."
import torch
from torch.utils.data import DataLoader, Dataset
from tiny_transformer.data import make_dataloader, seed_worker

DATA = torch.randint(4, 70, (20_000,), generator=torch.Generator().manual_seed(0))


def _batches(**kw):
    return [(x.clone(), y.clone()) for x, y in make_dataloader(DATA, batch_size=8, context_len=32, length=64, **kw)]


def _same(a, b): return len(a) == len(b) and all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))


def test_two_workers_give_the_same_batches_across_runs():
    first, second = _batches(num_workers=2, seed=7), _batches(num_workers=2, seed=7)
    assert len(first) == 8 and first[0][0].shape == (8, 32)
    assert _same(first, second)
    assert _same(first, _batches(num_workers=0, seed=7))  # and the same as loading in the main process
    assert not _same(first, _batches(num_workers=0, seed=8))  # the seed matters
    for x, y in first: assert torch.equal(x[:, 1:], y[:, :-1])


class _NoisyDataset(Dataset):
    "Draws from the worker's global RNG, as augmentation code would."
    def __len__(self): return 8
    def __getitem__(self, i): return torch.randint(0, 1_000_000, (1,))


def test_seed_worker_makes_worker_randomness_reproducible_and_distinct():
    def run(seed):
        dl = DataLoader(_NoisyDataset(), batch_size=1, num_workers=2, worker_init_fn=seed_worker,
                        generator=torch.Generator().manual_seed(seed))
        return torch.cat(list(dl)).flatten().tolist()
    a, b = run(1), run(1)
    assert a == b
    assert a[0::2] != a[1::2]  # the two workers do not repeat each other's numbers
    assert run(2) != a
