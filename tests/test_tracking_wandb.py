"A real Weights & Biases run, offline: one run per process, no silent joining, no logging after finish (skipped without wandb)."
import re
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


def test_another_project_name_or_config_is_refused_not_joined(offline):
    first = WandbTracker(project='tt-a', config={'lr': 1e-3})
    run = first.init()
    for other, says in ((WandbTracker(project='tt-b'), "project 'tt-a' (this tracker asks for 'tt-b')"),
                        (WandbTracker(project='tt-a', name='other'), "(this tracker asks for 'other')"),
                        (WandbTracker(project='tt-a', config={'lr': 5.0}), "config 'lr' = 0.001 (this tracker has 5.0)")):
        with pytest.raises(ValueError, match=rf'active run \({run.id}\).*{re.escape(says)}'):
            other.init()
        assert other.run is None
    assert wandb.run is run and dict(run.config.items())['lr'] == 1e-3  # still the one run, its config untouched
    first.finish()


def test_log_after_finish_is_a_clear_error(offline):
    first = WandbTracker(project='tt-test')
    first.log({'loss': 1.0}, step=1)
    joined = WandbTracker(project='tt-test')
    joined.init()
    first.finish()
    with pytest.raises(RuntimeError, match='was finished; create a new WandbTracker'):
        first.log({'loss': 0.5}, step=2)
    with pytest.raises(RuntimeError, match='was finished elsewhere'):
        joined.log({'loss': 0.5}, step=2)
