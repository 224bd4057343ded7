"""Start-up time of the package and the command line: `python bench/startup.py [--root PATH ...] [--repeats N]`.

For each checkout given with `--root` (default: this one), the median over N fresh processes of:
  import torch          the floor: what every command must pay anyway
  import tiny_transformer
  info                  `tiny-transformer info`
  generate              `tiny-transformer generate RUN --max-new-tokens 1`, from process start to its exit (the
                        output is complete then), on a run trained first by `tiny-transformer train --steps 20`
                        into a temp folder.
CPU time (user + system, of the process and its children) is printed beside the wall time: on a loaded machine
it is the steadier figure. The command runs the way pip's `tiny-transformer` script runs it (`from tiny_transformer.cli import main`) with the
checkout first on PYTHONPATH, so `--root /path/to/a/checkout/of/main` measures "before" with the same script.
Several roots are measured interleaved (round-robin), so they share the machine's load.
"""
import argparse, os, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

CLI = "import sys; from tiny_transformer.cli import main; sys.exit(main())"
HEAVY = ('matplotlib', 'ipywidgets', 'IPython', 'torch._dynamo', 'transformers', 'safetensors', 'wandb')

def _cpu(): r = resource.getrusage(resource.RUSAGE_CHILDREN); return r.ru_utime + r.ru_stime

def run(args, env):
    "Wall and CPU seconds one fresh `python *args` takes, and its output; exits with its stderr if it fails."
    t0, c0 = time.perf_counter(), _cpu()
    p = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    if p.returncode: sys.exit(f"{args} failed with status {p.returncode}:\n{p.stderr[-2000:]}")
    return (dt, cpu), p.stdout

def heavy_modules(env, code):
    "The heavy modules that `code` leaves in sys.modules."
    probe = f"{code}\nimport sys; print('HEAVY:', *(m for m in {HEAVY!r} if m in sys.modules))"
    out = run(['-c', probe], env)[1]
    return next(l for l in out.splitlines() if l.startswith('HEAVY:')).split()[1:]

def commands(run_dir):
    "What to time: name -> python arguments."
    return {'import torch (the floor)': ['-c', 'import torch'],
            'import tiny_transformer': ['-c', 'import tiny_transformer'],
            'tiny-transformer info': ['-c', CLI, 'info'],
            'tiny-transformer generate RUN --max-new-tokens 1':
                ['-c', CLI, 'generate', run_dir, '--max-new-tokens', '1', '--seed', '0']}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--root', action='append', help='checkout to measure (repeat to compare several)')
    ap.add_argument('--repeats', type=int, default=7)
    a = ap.parse_args()
    roots = a.root or [str(Path(__file__).resolve().parents[1])]
    base = {k: v for k, v in os.environ.items() if k != 'MPLBACKEND'}
    envs = {r: {**base, 'PYTHONPATH': r, 'OMP_NUM_THREADS': '1', 'TINY_TRANSFORMER_DEVICE': 'cpu'} for r in roots}
    with tempfile.TemporaryDirectory() as tmp:
        cmds = {}
        for i, r in enumerate(roots):
            run(['-c', CLI, 'train', '--out', f'{tmp}/run{i}', '--steps', '20', '--quiet'], envs[r])
            cmds[r] = commands(f'{tmp}/run{i}')
            run(cmds[r]['import tiny_transformer'], envs[r])  # warm the file cache
        times = {(r, n): [] for r in roots for n in cmds[r]}
        loads = []
        for _ in range(a.repeats):
            for n in cmds[roots[0]]:
                for r in roots: times[r, n].append(run(cmds[r][n], envs[r])[0])  # (wall, cpu)
            loads.append(os.getloadavg()[0])
        print(f"python {sys.version.split()[0]}; {a.repeats} runs each, interleaved; "
              f"load average {min(loads):.1f}-{max(loads):.1f}")
        for r in roots:
            print(f"\n{r}")
            for n in cmds[r]:
                wall, cpu = zip(*times[r, n])
                print(f"  {n:50s} wall: median {statistics.median(wall):5.2f} s, min {min(wall):5.2f} s;"
                      f"  CPU: median {statistics.median(cpu):5.2f} s")
            print('  heavy modules after `import tiny_transformer`:',
                  heavy_modules(envs[r], 'import tiny_transformer') or 'none')
            gen = f"import sys; sys.argv = ['tiny-transformer', *{cmds[r]['tiny-transformer generate RUN --max-new-tokens 1'][2:]!r}]\n" \
                  "from tiny_transformer.cli import main; main()"
            print('  heavy modules after `generate`:', heavy_modules(envs[r], gen) or 'none')

if __name__ == '__main__': main()
