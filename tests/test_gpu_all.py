"""`bench/gpu_all.py --dry-run` exercises every stage of the GPU script on a CPU (tiny sizes, a few steps)."""
import json, os, subprocess, sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_all_dry_run_passes(tmp_path):
    out = tmp_path / 'summary.json'
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg', 'PYTHONPATH': str(REPO)}
    p = subprocess.run([sys.executable, 'bench/gpu_all.py', '--dry-run', '--out', str(out)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    summary = json.loads(out.read_text())
    assert summary['dry_run'] and summary['failures'] == []
    stages = summary['results']
    for name in ('nbdev_test', 'shakespeare', 'decode_cached', 'decode_uncached', 'widget_run_text',
                 'widget_attention_picture', 'widget_next_token_picture', 'widget_generation_5_steps'):
        assert name in stages, sorted(stages)
    assert stages['decode_cached_equals_uncached'] is True
    assert stages['shakespeare']['step'] > 0 and 'ScaleSettings' in stages['shakespeare']['settings']
