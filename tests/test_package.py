"""The package's shape: imports flow one way (no cycle), each run-folder file is named in one place, and a bad parameter
stops `train` at once."""
import ast, re, subprocess

import pytest

from conftest import CLI, ROOT

PKG = ROOT/'nutrition_predictor'


def _package_imports() -> dict:
    "Module -> the package modules it imports (at any depth of its code)."
    graph = {}
    for f in PKG.glob('*.py'):
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module: deps.add(node.module.split('.')[0])
            elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('nutrition_predictor.'):
                deps.add(node.module.split('.')[1])
            elif isinstance(node, ast.ImportFrom) and node.module == 'nutrition_predictor': deps |= {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name.split('.')[1] for a in node.names if a.name.startswith('nutrition_predictor.')}
        graph[f.stem] = deps & {p.stem for p in PKG.glob('*.py')}
    return graph


def _cycle(graph:dict) -> list|None:
    "One import cycle of `graph`, or `None`."
    state = {}
    def visit(m, path):
        state[m] = 'open'
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 'open': return path[path.index(d):] + [d] if d in path else [m, d]
            if d not in state and (c := visit(d, path + [d])): return c
        state[m] = 'done'
    for m in sorted(graph):
        if m not in state and (c := visit(m, [m])): return c


def test_cycle_finder_finds_a_cycle():
    assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert _cycle({'a': {'b'}, 'b': set()}) is None


def test_no_import_cycle_in_the_package():
    graph = _package_imports()
    assert graph['cli'] and graph['runs']                            # the walk sees the package's imports
    assert _cycle(graph) is None, _cycle(graph)


@pytest.mark.parametrize('name',
                         ['params.yaml', 'model.pth', 'model.json', 'model.onnx', 'intervals.json',
                          'ingredients.json', 'metrics.json',
                                  'test_predictions.csv', 'cv_predictions.csv', 'train.ipynb'])
def test_each_run_file_is_named_once(name):
    "Only `runs.RunFolder` spells a run folder's file names; every other module asks it."
    hits = {f.name for f in PKG.glob('*.py') if f.name != '_modidx.py'
            for line in f.read_text().splitlines() if re.search(rf"['\"/]{re.escape(name)}['\"]",
                    line) and not line.lstrip().startswith('#')}
    assert hits == {'runs.py'}, hits


@pytest.mark.parametrize('key,value', [('epochs', 'abc'), ('lr', '-1'), ('view', 'sideways'), ('camera', 'Z')])
def test_bad_parameter_fails_at_once_and_leaves_no_run_folder(tmp_path, key, value):
    r = subprocess.run([CLI, 'train', str(ROOT/'params/offline.yaml'), '-p', key, value], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert r.returncode != 0
    errors = [l for l in r.stderr.splitlines() if l.startswith('error:')]
    assert len(errors) == 1 and f'parameter {key}' in errors[0] and value in errors[0], r.stderr
    assert 'Traceback' not in r.stderr and 'Executing' not in r.stderr   # checked before papermill starts
    assert list(tmp_path.iterdir()) == []                           # no runs/ folder, nothing at all


def test_wheel_ships_the_notebooks_papermill_runs(tmp_path):
    "A plain `pip install .` must be able to train and rank runs: the experiment notebooks are package data."
    import sys, zipfile
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
                        str(tmp_path), str(ROOT)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    names = zipfile.ZipFile(next(tmp_path.glob('nutrition_predictor-*.whl'))).namelist()
    for nb in ('train', 'leaderboard'): assert f'nutrition_predictor/experiments/{nb}.ipynb' in names, names
