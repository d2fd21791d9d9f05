"""How the rooms read, in numbers (issue 28's yardstick): export cells' code lines (median, largest), the share of export
cells followed by an example (the next code cell is not exported and asserts or plots), lines over the configured
length in export cells and modules, the serving modules' sizes (under 300 lines each) and `create_app`'s. CI prints
these; `--check` also fails when a target is missed.

    python tools/house_metrics.py [--check]
"""
import argparse, ast, json, re, statistics, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = dict(median_export_cell_lines=10, max_export_cell_lines=40, share_followed_by_example=0.70, long_lines=0,
               predict_lines=299, serve_lines=299, create_app_lines=40)     # at most


def code_lines(src:str) -> list[str]:
    "A cell's lines that are code: not blank, not a comment or a `#|` directive."
    return [l for l in src.splitlines() if l.strip() and not l.lstrip().startswith('#')]


def is_example(src:str) -> bool:
    "A code cell that is not exported and checks or shows something (`test_*`, `assert`, a plot), not only imports or setup."
    return not re.search(r'^#\|\s*export', src, re.M) and bool(re.search(r'\btest_\w+\(|\bassert\b|\.plot|plt\.', src))


def notebook_cells(limit:int) -> tuple[list[int], int, int, list[str]]:
    "(code lines of each export cell, export cells, those followed by an example, export-cell lines over `limit`)."
    sizes, n_export, followed, long = [], 0, 0, []
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        cells = [c for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']
        for i, c in enumerate(cells):
            src = ''.join(c['source'])
            if not re.search(r'^#\|\s*export\b', src, re.M): continue
            n_export += 1; sizes.append(len(code_lines(src)))
            nxt = ''.join(cells[i + 1]['source']) if i + 1 < len(cells) else ''
            if is_example(nxt): followed += 1
            long += [f'{nb.name}: {l[:60]}...' for l in src.splitlines() if len(l) > limit]
    return sizes, n_export, followed, long


def function_lines(path:Path, name:str) -> int:
    "Lines of the top-level function `name` in the module at `path`, its signature and docstring included."
    f = next(n for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return f.end_lineno - f.lineno + 1


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0]); a.add_argument('--check', action='store_true')
    args = a.parse_args()
    limit = tomllib.loads((ROOT/'pyproject.toml').read_text())['tool']['ruff']['line-length']
    sizes, n_export, followed, long_cells = notebook_cells(limit)
    modules = [p for p in (ROOT/'nutrition_predictor').glob('*.py') if p.name != '_modidx.py']
    long_modules = [f'{p.name}: {l[:60]}...' for p in modules for l in p.read_text().splitlines()
                    if len(l) > limit and not l.startswith('# %%')]
    got = dict(median_export_cell_lines=statistics.median(sizes), max_export_cell_lines=max(sizes),
               share_followed_by_example=round(followed / n_export, 3), long_lines=len(long_cells) + len(long_modules),
               predict_lines=len((ROOT/'nutrition_predictor/predict.py').read_text().splitlines()),
               serve_lines=len((ROOT/'nutrition_predictor/serve.py').read_text().splitlines()),
               create_app_lines=function_lines(ROOT/'nutrition_predictor/serve.py', 'create_app'))
    missed = [k for k, t in TARGETS.items() if (got[k] < t if k == 'share_followed_by_example' else got[k] > t)]
    print(json.dumps(dict(export_cells=n_export, line_limit=limit, **got, targets=TARGETS, missed=missed), indent=1))
    if args.check and missed: sys.exit(f"house metrics: {', '.join(missed)} miss their targets")


if __name__ == '__main__': main()
