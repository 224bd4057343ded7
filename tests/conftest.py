"Fixtures shared by the test files."
import pytest


@pytest.fixture(scope='session')
def corpus(tmp_path_factory):
    "The first 200,000 characters of the bundled Shakespeare as a text file: any UTF-8 file is a corpus."
    from tiny_transformer.data import load_corpus
    path = tmp_path_factory.mktemp('corpus') / 'part.txt'
    path.write_text(load_corpus()[:200_000], encoding='utf-8')
    return path
