"Resuming with a different `--steps` continues the run's own learning-rate schedule exactly (issue: resume with different settings)."
import json, math
import pytest
import torch
from tiny_transformer.cli import train_run
from tiny_transformer.training import TrainConfig, lr_at


def _rows(out):
    return [json.loads(l) for l in (out / 'metrics.jsonl').read_text().splitlines() if '"lr"' in l]


def test_resume_with_more_steps_keeps_the_first_schedule(tmp_path, corpus):
    kw = dict(corpus=corpus, preset='tiny', progress=False, live_plot=False, log_interval=1, eval_interval=0, device='cpu')
    train_run(tmp_path / 'a', max_steps=4, **kw)
    res = train_run(tmp_path / 'a', resume=True, max_steps=8, **kw)
    assert res.trainer.step == 8
    first = TrainConfig.from_dict(res.trainer.config.to_dict())
    assert first.max_steps == 4, 'the resumed trainer keeps the schedule the run started with'
    lrs = {r['step']: r['lr'] for r in _rows(tmp_path / 'a')}
    assert sorted(lrs) == list(range(1, 9)), 'every step logged once'
    for step, lr in lrs.items():  # row `step` reports the lr of optimizer step step - 1
        assert math.isclose(lr, lr_at(step - 1, first), rel_tol=1e-9), (step, lr)
    assert max(lrs[s] for s in range(5, 9)) <= lrs[4], 'no jump back up after the resume'


def test_resume_equals_one_run_that_never_stopped(tmp_path, corpus):
    kw = dict(corpus=corpus, preset='tiny', progress=False, live_plot=False, eval_interval=0, device='cpu')
    train_run(tmp_path / 'a', max_steps=3, **kw)
    resumed = train_run(tmp_path / 'a', resume=True, max_steps=6, **kw).model.state_dict()
    # a straight run with the same schedule (max_steps=3) that is simply trained on to step 6
    straight = train_run(tmp_path / 'b', max_steps=3, **kw)
    straight.trainer.callbacks.clear(); straight.trainer.checkpoint_fn = None  # its run folder is closed
    straight.trainer.train(6)
    for k, v in straight.model.state_dict().items(): assert torch.equal(v, resumed[k]), k
