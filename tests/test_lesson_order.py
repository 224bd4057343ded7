"""Lessons come in dependency order: no lesson, and no exported module, imports from a later lesson's module.

The order is the order of the numbered notebooks' file names (`nbs/00a_setup.ipynb` < `nbs/01_attention.ipynb` <
...); each notebook's `#| default_exp` names its module. Checked, for every numbered notebook:
- every code cell, exported or not: `from tiny_transformer.X import ...`, `import tiny_transformer.X`,
  `from tiny_transformer import X`, and `tt.Name` where `tt` is the package (`import tiny_transformer as tt`),
  which counts as an import of the module that defines `Name`;
- every generated module `tiny_transformer/*.py`: its relative imports (`from .X import`, `from . import X`) and any
  absolute ones, including imports inside functions.
Allowed, on purpose:
- `tiny_transformer.pretrained` (`load_pretrained`) and `tiny_transformer.exercises` (the checkers) used as black
  boxes in lesson cells, never in exported code: a lesson may show a trained model or check an exercise before the
  lesson that builds those tools;
- `10_api` (the package's top level, `__init__`), which by design names every lesson's module.
"""
import ast, json, re
from dataclasses import dataclass
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = 'tiny_transformer'
BLACK_BOXES = {'pretrained', 'exercises'}  # usable in lesson cells of any notebook, never in exported code
TOP_LEVEL = '__init__'  # 10_api: exempt
EXPORT_FLAGS = re.compile(r'^\s*#\|\s*export[si]?\b', re.M)


@dataclass(frozen=True)
class Import:
    notebook: str  # file name of the notebook, or of the module for generated code
    cell: str  # 'cell 12 (id 3f2a...)' or 'line 40'
    exported: bool  # in exported code (an export cell or a generated module)
    module: str  # the tiny_transformer module imported
    text: str  # what the source says

    def __str__(self):
        where = 'exported code' if self.exported else 'a lesson cell'
        return f"{self.notebook}, {self.cell} ({where}): {self.text!r} imports tiny_transformer.{self.module}"


def lessons(nbs:Path)->dict[str, tuple[int, str]]:
    "module -> (position in the course, notebook file name), from the numbered notebooks' `#| default_exp`."
    out = {}
    for i, nb in enumerate(sorted(nbs.glob('[0-9]*.ipynb'))):
        for cell in json.loads(nb.read_text(encoding='utf-8'))['cells']:
            m = re.search(r'^\s*#\|\s*default_exp\s+(\S+)', ''.join(cell['source']), re.M)
            if cell['cell_type'] == 'code' and m: out[m.group(1)] = (i, nb.name); break
        else: out[f'<no module: {nb.name}>'] = (i, nb.name)
    return out


def module_all(pkg:Path)->dict[str, str]:
    "Public name -> the module whose `__all__` lists it, read from the generated files (nothing imported)."
    home = {}
    for path in sorted(pkg.glob('[!_]*.py')):
        for node in ast.parse(path.read_text(encoding='utf-8')).body:
            if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets):
                for name in ast.literal_eval(node.value): home.setdefault(name, path.stem)
    return home


def _parse(source:str):
    "The cell's syntax tree, with IPython magics and shell lines blanked out; None if it still doesn't parse."
    code = '\n'.join('' if re.match(r'\s*[%!]', l) else l for l in source.splitlines())
    try: return ast.parse(code)
    except SyntaxError: return None


def package_aliases(tree)->set[str]:
    "Names bound to the package itself (`import tiny_transformer as tt`)."
    return {a.asname or PKG for node in ast.walk(tree) if isinstance(node, ast.Import)
            for a in node.names if a.name == PKG}


def imports_in(tree, resolve_attr, package:str|None=None, aliases=())->list[tuple[str, str]]:
    "(module, text) for each import of a package module in `tree`; `package` set for relative imports."
    found, aliases = [], set(aliases) | package_aliases(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:  # relative: only meaningful inside the package
                if package is None or node.level != 1: continue
                base = f'{PKG}.{base}' if base else PKG
            if base == PKG:
                for a in node.names: found.append((a.name, f'from {base} import {a.name}'))
            elif base.startswith(PKG + '.'): found.append((base.split('.')[1], f'from {base} import ...'))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith(PKG + '.'): found.append((a.name.split('.')[1], f'import {a.name}'))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            if (mod := resolve_attr(node.attr)) is not None:
                found.append((mod, f'{node.value.id}.{node.attr}'))
    return found


def notebook_imports(nbs:Path, pkg:Path)->list[Import]:
    "Every import of a package module in the numbered notebooks' code cells."
    homes = module_all(pkg)
    modules = {p.stem for p in pkg.glob('*.py')}
    resolve = lambda name: name if name in modules else homes.get(name)
    out = []
    for nb in sorted(nbs.glob('[0-9]*.ipynb')):
        cells = [(i, c, ''.join(c['source'])) for i, c in enumerate(json.loads(nb.read_text(encoding='utf-8'))['cells'])
                 if c['cell_type'] == 'code']
        trees = [(i, c, s, t) for i, c, s in cells if (t := _parse(s)) is not None]
        aliases = set().union(*(package_aliases(t) for *_, t in trees))  # `tt` bound in one cell, used in others
        for i, cell, source, tree in trees:
            exported = bool(EXPORT_FLAGS.search(source))
            for mod, text in imports_in(tree, resolve, aliases=aliases):
                mod = resolve(mod) or mod  # `from tiny_transformer import Name` -> Name's module
                out.append(Import(nb.name, f"cell {i} (id {cell.get('id', '?')})", exported, mod, text))
    return out


def module_imports(pkg:Path)->list[Import]:
    "Every import of a package module in the generated modules, relative or absolute, at any depth."
    modules = {p.stem for p in pkg.glob('*.py')}
    out = []
    for path in sorted(pkg.glob('[!_]*.py')):
        tree = ast.parse(path.read_text(encoding='utf-8'))
        for mod, text in imports_in(tree, lambda name: None, package=PKG):
            out.append(Import(f'{PKG}/{path.name}', 'module', True, mod if mod in modules else mod, text))
    return out


def forward_imports(root:Path)->list[str]:
    "Each import of a later lesson's module, as a sentence naming the notebook, the cell and the import."
    nbs, pkg = root/'nbs', root/PKG
    order = lessons(nbs)
    by_file = {nb: (pos, mod) for mod, (pos, nb) in order.items()}
    problems = []
    for imp in notebook_imports(nbs, pkg) + module_imports(pkg):
        if imp.notebook.startswith(PKG + '/'):
            own = Path(imp.notebook).stem
            if own == TOP_LEVEL or own not in order: continue
            pos = order[own][0]
        else:
            pos, own = by_file[imp.notebook]
            if own == TOP_LEVEL: continue
        if imp.module in BLACK_BOXES and not imp.exported: continue
        if imp.module not in order: continue  # not a lesson's module (e.g. `_modidx`)
        target_pos, target_nb = order[imp.module]
        if target_pos > pos:
            problems.append(f"{imp}, which lesson {target_nb} builds later")
    return problems


def test_no_lesson_or_module_imports_from_a_later_lesson():
    assert len(notebook_imports(ROOT/'nbs', ROOT/PKG)) > 30 and len(module_imports(ROOT/PKG)) > 20  # it really reads
    problems = forward_imports(ROOT)
    assert not problems, 'forward imports:\n' + '\n'.join(problems)


def test_the_order_comes_from_the_file_names():
    order = lessons(ROOT/'nbs')
    assert order['env'][0] < order['viz'][0] < order['attention'][0] < order['model'][0] < order['cli'][0]
    assert order[TOP_LEVEL][1].startswith('10_')


# The checker itself must be able to fail: a tiny course with known forward imports.

def _nb(path:Path, *cells:str):
    cells = [dict(cell_type='code', id=f'c{i}', metadata={}, outputs=[], execution_count=None, source=s)
             for i, s in enumerate(cells)]
    path.write_text(json.dumps(dict(cells=cells, metadata={}, nbformat=4, nbformat_minor=5)))


@pytest.fixture
def course(tmp_path):
    (tmp_path/'nbs').mkdir(); pkg = tmp_path/PKG; pkg.mkdir()
    (pkg/'early.py').write_text("__all__ = ['f']\nfrom .late import g\n")  # a module importing a later one
    (pkg/'late.py').write_text("__all__ = ['g']\n")
    (pkg/'pretrained.py').write_text("__all__ = ['load_pretrained']\n")
    (pkg/'__init__.py').write_text("from .late import g\n")
    _nb(tmp_path/'nbs'/'01_early.ipynb', '#| default_exp early',
        '#| export\nfrom tiny_transformer.late import g',       # exported, forward
        'import tiny_transformer as tt',
        'x = tt.g',                                              # lesson cell, `tt.` use, forward
        'from tiny_transformer.pretrained import load_pretrained',  # black box in a lesson cell: allowed
        '%time y = 1\nimport tiny_transformer.late')            # a magic does not hide the import
    _nb(tmp_path/'nbs'/'02_late.ipynb', '#| default_exp late', 'from tiny_transformer.early import f')
    _nb(tmp_path/'nbs'/'03_pretrained.ipynb', '#| default_exp pretrained')
    _nb(tmp_path/'nbs'/'10_api.ipynb', '#| default_exp __init__', '#| export\nfrom tiny_transformer.late import g')
    return tmp_path


def test_the_checker_reports_each_forward_import(course):
    problems = forward_imports(course)
    assert len(problems) == 4, problems
    assert any("01_early.ipynb, cell 1 (id c1) (exported code): 'from tiny_transformer.late import ...'" in p
               for p in problems)
    assert any("01_early.ipynb, cell 3 (id c3) (a lesson cell): 'tt.g' imports tiny_transformer.late" in p
               for p in problems)
    assert any("'import tiny_transformer.late'" in p for p in problems)
    assert any(p.startswith("tiny_transformer/early.py, module (exported code): 'from tiny_transformer.late")
               for p in problems)
    assert not any('pretrained' in p or '10_api' in p or '__init__' in p for p in problems)


def test_black_boxes_are_not_allowed_in_exported_code(course):
    _nb(course/'nbs'/'02_late.ipynb', '#| default_exp late',
        '#| export\nfrom tiny_transformer.pretrained import load_pretrained')
    assert any('02_late.ipynb' in p and 'pretrained' in p for p in forward_imports(course))
