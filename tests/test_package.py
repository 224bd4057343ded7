"The installed package: it imports, exposes its public names at the top level, and has a version."
import importlib, pkgutil, subprocess, sys
import tiny_transformer as tt


def test_version_is_semver():
    parts = tt.__version__.split('.')
    assert len(parts) == 3 and all(p.isdigit() for p in parts), tt.__version__


def test_every_public_name_is_importable_from_the_top_level():
    mods = [m.name for m in pkgutil.iter_modules(tt.__path__) if not m.name.startswith('_') and m.name != 'cli']
    assert 'env' in mods
    for m in mods:
        mod = importlib.import_module(f'tiny_transformer.{m}')
        missing = [n for n in mod.__all__ if not hasattr(tt, n)]
        assert not missing, f'{m}: {missing} not exported from tiny_transformer'


def test_import_in_a_fresh_interpreter():
    out = subprocess.run([sys.executable, '-c', 'import tiny_transformer as tt; print(tt.__version__)'],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == tt.__version__
