"The train/validation split is exactly nanoGPT's: train = data[:int(n * 0.9)], val = the rest."
import os
from pathlib import Path
import pytest
from tiny_transformer.data import DATA_ENV, TINYSHAKESPEARE_NAMES, read_text_file, train_val_split


def _find_copy():
    "The local tinyshakespeare: $TINY_TRANSFORMER_DATA, or shared/data/ beside any folder above this test."
    if env := os.environ.get(DATA_ENV):
        p = Path(env)
        for name in ('', *TINYSHAKESPEARE_NAMES):
            if (p/name).is_file(): return p/name
    for folder in Path(__file__).resolve().parents:
        if (p := folder/'shared'/'data'/'tinyshakespeare.txt').is_file(): return p
    return None


COPY = _find_copy()


@pytest.mark.skipif(COPY is None, reason=f'no tinyshakespeare copy (set {DATA_ENV} or put one in ../shared/data/)')
def test_tinyshakespeare_splits_like_nanogpt():
    text = read_text_file(COPY)
    assert len(text) == 1_115_394
    train, val = train_val_split(text)
    assert (len(train), len(val)) == (1_003_854, 111_540)
    n = len(text)
    assert train == text[:int(n * 0.9)] and val == text[int(n * 0.9):]  # nanoGPT's prepare.py, character for character


@pytest.mark.parametrize('n', [10, 11, 19, 1_115_394, 1_000_003])
def test_split_sizes_match_nanogpt_for_other_lengths(n):
    train, val = train_val_split(range(n))
    assert len(train) == int(n * 0.9) and len(train) + len(val) == n
