"""Run the lessons top to bottom and store their outputs in the notebooks, stamped with their code's hash.

    python tools/execute_lessons.py                      # every numbered lesson, nbs/[0-9]*.ipynb
    python tools/execute_lessons.py nbs/00b_files.ipynb  # some of them
    python tools/execute_lessons.py --check              # only check stamps (as the tests do)
    python tools/execute_lessons.py --check-processed _proc  # after nbdev-proc-nbs: images kept

Each notebook runs in a fresh Python process with the engine nbdev-test uses (execnb's CaptureShell),
in the mode a learner gets (IN_TEST unset: no shortened training runs), with fixed seeds, matplotlib's
Agg backend and figures at a modest dpi. Cells flagged like nbdev-test's skipped ones (`slow`,
`notest`) are not run. Widget state is dropped: it is large and renders nowhere without a kernel.
The notebook's metadata gets a stamp, `tiny_transformer.outputs`: the sha256 of its code cells'
sources, the cells whose last expression was None, the cells that drew a figure, and the versions
used. Finally `nbdev-clean` normalises the file; [tool.nbdev] in pyproject.toml keeps the outputs
(clear_all = false) and the stamp (allowed_metadata_keys).
"""
from __future__ import annotations
import argparse, ast, datetime, hashlib, json, os, platform, re, subprocess, sys, time, tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NBS = REPO/'nbs'
LESSON_GLOB = '[0-9]*.ipynb'  # the numbered lessons; index and troubleshooting are prose
STAMP_KEY, STAMP_FIELD = 'tiny_transformer', 'outputs'  # nb.metadata.tiny_transformer.outputs
MAX_BYTES = 1_500_000  # per notebook, outputs included
FIGURE_DPI = 100  # labels stay readable; a figure stays well under 100 kB
SEED = 0
WIDGET_MIME = 'application/vnd.jupyter.widget-view+json'
DATA_ENV = 'TINY_TRANSFORMER_DATA'
SHARED_CORPUS = REPO.parent/'shared'/'data'/'tinyshakespeare.txt'  # used when DATA_ENV is unset
_DIRECTIVE = re.compile(r'^\s*#\s*\|')
RERUN = 're-run `python tools/execute_lessons.py {}`'


def _tst_flags()->tuple[str, ...]:
    "The cell flags nbdev-test skips ([tool.nbdev] tst_flags)."
    cfg = tomllib.loads((REPO/'pyproject.toml').read_text(encoding='utf-8'))
    return tuple(cfg.get('tool', {}).get('nbdev', {}).get('tst_flags', 'notest').split())

SKIP_FLAGS = _tst_flags()  # cells a learner runs on purpose (hours on a CPU), not unattended

# Runs in the notebook's shell before its first cell: seeds and figure size, nothing more.
PRELUDE = f'''
import random as _r, numpy as _np, torch as _t, matplotlib as _mpl
_r.seed({SEED}); _np.random.seed({SEED}); _t.manual_seed({SEED})
_mpl.rcParams.update({{'figure.dpi': {FIGURE_DPI}, 'savefig.dpi': {FIGURE_DPI}}})
del _r, _np, _t, _mpl
'''


def source(cell:dict)->str:
    "A cell's source as one string."
    return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']


def code_hash(nb:dict)->str:
    "sha256 of the code cells' sources, in order (outputs, ids and metadata ignored)."
    sources = [source(c) for c in nb['cells'] if c['cell_type'] == 'code']
    return hashlib.sha256(json.dumps(sources).encode('utf-8')).hexdigest()


def shows_value(src:str)->bool:
    "Whether a cell's last statement is an expression, whose value a notebook shows (`;` hides it)."
    lines = [l for l in src.splitlines() if not _DIRECTIVE.match(l) and not l.lstrip()[:1] in ('%', '!')]
    code = '\n'.join(lines)
    if not code.strip() or code.rstrip().endswith(';'): return False
    try: tree = ast.parse(code)
    except SyntaxError: return False
    return bool(tree.body) and isinstance(tree.body[-1], ast.Expr)


def _directives(src:str)->dict:
    "The cell's leading `#| name value` lines as {name: value}."
    out = {}
    for line in src.splitlines():
        if not _DIRECTIVE.match(line):
            if line.strip(): break
            continue
        name, _, value = line.split('|', 1)[1].strip().partition(' ')
        out[name.rstrip(':')] = value.strip()
    return out


def runs(src:str, skip_flags=SKIP_FLAGS)->bool:
    "Whether the executor runs a code cell: not `#| eval: false`, and no flag in `skip_flags`."
    d = _directives(src)
    return d.get('eval', '').lower() != 'false' and not set(d) & set(skip_flags)


def has_image(cell:dict)->bool:
    "Whether a cell stores an image output."
    return any(k.startswith('image/') for o in cell.get('outputs', []) for k in o.get('data', {}))


def stamp_of(nb:dict)->dict|None:
    "The notebook's outputs stamp, or None."
    return nb.get('metadata', {}).get(STAMP_KEY, {}).get(STAMP_FIELD)


def problems(path:Path)->list[str]:
    "What is wrong with a lesson's stored outputs: no stamp, a stale one, a value or figure missing."
    path = Path(path)
    nb = json.loads(path.read_text(encoding='utf-8'))
    rel = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    stamp, rerun = stamp_of(nb), RERUN.format(rel)
    if stamp is None: return [f"{rel}: never executed with its outputs stored (no stamp); {rerun}"]
    if stamp.get('code_sha256') != code_hash(nb):
        return [f"{rel}: the code changed since its outputs were made; {rerun}"]
    out, no_value, figures = [], set(stamp.get('no_value', [])), set(stamp.get('figures', []))
    for i, c in enumerate(nb['cells']):
        flags = stamp.get('skip_flags', SKIP_FLAGS)
        if c['cell_type'] != 'code' or not runs(source(c), flags): continue
        where = f"{rel}: cell {i} ({c['id']})"
        if shows_value(source(c)) and c['id'] not in no_value and not c.get('outputs'):
            out.append(f"{where} ends with an expression but has no output; {rerun}")
        if c['id'] in figures and not has_image(c):
            out.append(f"{where} drew a figure that is no longer stored; {rerun}")
    if (size := path.stat().st_size) > MAX_BYTES:
        out.append(f"{rel}: {size:,} bytes; keep a notebook under {MAX_BYTES:,} "
                   "(smaller figures, fewer printed lines)")
    return out


def _strip_widgets(nb:dict):
    "Drop widget state and widget views; their text fallback stays."
    nb.get('metadata', {}).pop('widgets', None)
    for c in nb['cells']:
        for o in c.get('outputs', []): o.get('data', {}).pop(WIDGET_MIME, None)
        if 'outputs' in c: c['outputs'] = [o for o in c['outputs'] if o.get('data', True)]


def _execute(path:Path, skip_flags):
    "The child side of `execute`: run one notebook here, write it back with outputs and stamp."
    from fastcore.nbio import read_nb, nb2dict
    from execnb.shell import CaptureShell
    import torch, matplotlib
    nb = read_nb(path)
    shell = CaptureShell(path, mpl_format='png')
    shell.run(PRELUDE)
    t0 = time.perf_counter()
    os.chdir(path.parent)
    skip = lambda c: c.cell_type != 'code' or not runs(c.source, skip_flags)
    try: shell.run_all(nb, exc_stop=True, preproc=skip)
    except BaseException:
        sys.stderr.write(shell.prettytb(fname=path) + '\n'); raise SystemExit(1)
    d = nb2dict(nb)
    for c in d['cells']: c.get('metadata', {}).pop('execution', None)
    _strip_widgets(d)
    code = [c for c in d['cells'] if c['cell_type'] == 'code' and runs(source(c), skip_flags)]
    d['metadata'].setdefault(STAMP_KEY, {})[STAMP_FIELD] = dict(
        code_sha256=code_hash(d), skip_flags=list(skip_flags),
        no_value=[c['id'] for c in code if shows_value(source(c)) and not c.get('outputs')],
        figures=[c['id'] for c in code if has_image(c)],
        seconds=round(time.perf_counter() - t0), date=datetime.date.today().isoformat(),
        python=platform.python_version(), torch=torch.__version__, matplotlib=matplotlib.__version__)
    path.write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')


def _none_hint(nb:dict)->str:
    "The cells that end in an expression whose value is None, other than test_*/print calls."
    last = lambda c: source(c).strip().splitlines()[-1]
    quiet = [c['id'] for c in nb['cells'] if c['id'] in stamp_of(nb)['no_value']
             and not re.match(r'\s*(test_\w+|print)\(', last(c))]
    return f"; cells ending in an expression that is None: {quiet}" if quiet else ''


def execute(path:Path, skip_flags=SKIP_FLAGS, timeout:int|None=None)->bool:
    "Run `path` in a fresh process, store outputs and stamp, clean it; True if it passes `problems`."
    env = {k: v for k, v in os.environ.items() if k != 'IN_TEST'}
    env.update(MPLBACKEND='Agg', PYTHONHASHSEED=str(SEED),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get('PYTHONPATH')])))
    if DATA_ENV not in env and SHARED_CORPUS.is_file(): env[DATA_ENV] = str(SHARED_CORPUS)
    t0 = time.perf_counter()
    child = [sys.executable, __file__, '--child', str(path), '--skip-flags', ','.join(skip_flags)]
    if subprocess.run(child, env=env, cwd=REPO, timeout=timeout).returncode != 0:
        print(f"FAILED {path.name}: a cell raised (traceback above); the notebook is unchanged", flush=True)
        return False
    subprocess.run(['nbdev-clean', '--fname', str(path)], cwd=REPO, check=True)
    found = problems(path)
    for p in found: print(p)
    hint = _none_hint(json.loads(path.read_text(encoding='utf-8')))
    print(f"{'PROBLEMS' if found else 'ok'} {path.name}: {time.perf_counter() - t0:.0f} s, "
          f"{path.stat().st_size / 1e6:.2f} MB{hint}", flush=True)
    return not found


def check_processed(
    proc:Path, # the folder nbdev-proc-nbs wrote (_proc)
    nbs:Path=NBS, # the source notebooks
)->list[str]:
    "The processed notebooks (nbdev-proc-nbs) that lost images their source shows."
    out = []
    for src in sorted(nbs.glob(LESSON_GLOB)):
        nb = json.loads(src.read_text(encoding='utf-8'))
        shown = [c for c in nb['cells'] if c['cell_type'] == 'code' and has_image(c)
                 and not {'hide', 'hide_output'} & set(_directives(source(c)))]
        if not shown: continue
        dest = proc/src.name
        if not dest.is_file():
            out.append(f"{dest}: missing; nbdev-proc-nbs did not write it"); continue
        kept = {c.get('id') for c in json.loads(dest.read_text(encoding='utf-8'))['cells'] if has_image(c)}
        if lost := [c['id'] for c in shown if c['id'] not in kept]:
            out.append(f"{dest}: cells {lost} lost their images; {src.name} stores them")
    return out


def main(argv=None)->int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('notebooks', nargs='*', type=Path, help=f'notebooks (default: nbs/{LESSON_GLOB})')
    p.add_argument('--check', action='store_true', help='only check stamps and outputs; run nothing')
    p.add_argument('--check-processed', type=Path, metavar='PROC',
                   help='check that PROC, the output of nbdev-proc-nbs, kept the images')
    p.add_argument('--skip-flags', default=','.join(SKIP_FLAGS), help='comma-separated flags not to run')
    p.add_argument('--timeout', type=int, default=None, help='seconds per notebook')
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    flags = tuple(f for f in a.skip_flags.split(',') if f)
    if a.child: _execute(a.notebooks[0].resolve(), flags); return 0
    if a.check_processed:
        found = check_processed(a.check_processed)
        print('\n'.join(found) or f"the processed notebooks in {a.check_processed} keep every image")
        return 1 if found else 0
    paths = [n.resolve() for n in a.notebooks] or sorted(NBS.glob(LESSON_GLOB))
    if a.check:
        found = [x for n in paths for x in problems(n)]
        print('\n'.join(found) or f"{len(paths)} notebooks: outputs current")
        return 1 if found else 0
    failed = [n.name for n in paths if not execute(n, flags, a.timeout)]
    if failed: print(f"{len(failed)} of {len(paths)} notebooks failed: {' '.join(failed)}")
    return 1 if failed else 0


if __name__ == '__main__': sys.exit(main())
