"A real Weights & Biases run, offline: `WandbTracker.init` twice in one process gives one run (skipped without wandb)."
import pytest

wandb = pytest.importorskip('wandb', reason='wandb is optional (not a dependency); pip install wandb to run this test')

from tiny_transformer.tracking import WandbTracker


@pytest.fixture
def offline(tmp_path, monkeypatch):
    for k, v in dict(WANDB_MODE='offline', WANDB_DIR=str(tmp_path), WANDB_SILENT='true',
                     WANDB_CONFIG_DIR=str(tmp_path/'config'), WANDB_CACHE_DIR=str(tmp_path/'cache')).items():
        monkeypatch.setenv(k, v)
    yield tmp_path
    if wandb.run is not None: wandb.finish()


def _runs(folder): return sorted(p.name for p in (folder/'wandb').glob('offline-run-*'))


def test_init_twice_is_one_offline_run(offline):
    first, second = WandbTracker(project='tt-test', config={'lr': 1e-3}), WandbTracker(project='tt-test')
    run = first.init()
    assert first.init() is run and second.init() is run
    second.log({'loss': 2.5}, step=1)
    first.log({'loss': 2.0}, step=2)
    assert len(_runs(offline)) == 1, _runs(offline)
    first.finish()
    assert wandb.run is None
    third = WandbTracker(project='tt-test')
    assert third.init().id != run.id  # after finish, a fresh run
    third.finish()
    assert len(_runs(offline)) == 2, _runs(offline)
