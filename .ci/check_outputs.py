"""After `nbdev-test --save`: the outputs the notebooks keep (and the docs site shows) must be the ones their code makes.

Compares, cell by cell, the committed notebooks with the ones just executed: the same cells, and in each the same kinds
of rich output (plots, tables, API docs: the MIME types of `display_data` and `execute_result`). Numbers, paths and
timings inside outputs may differ from run to run; a plot that appeared or vanished, or a table that is new, may not.
Exit 1, naming the cells, when they differ: run `nbdev-test --save && nbdev-clean` and commit."""
import json, subprocess, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]


def kinds(nb:dict) -> dict:
    "`{cell id: sorted MIME types of its rich outputs}` for the code cells of `nb`."
    return {c.get('id'): sorted({m for o in c.get('outputs', []) if o['output_type'] in ('display_data', 'execute_result')
                                 for m in o.get('data', {})})
            for c in nb['cells'] if c['cell_type'] == 'code'}


stale = []
for f in sorted((root/'nbs').glob('*.ipynb')):
    rel = f.relative_to(root).as_posix()
    committed = json.loads(subprocess.run(['git', 'show', f'HEAD:{rel}'], cwd=root, capture_output=True, text=True,
                                          check=True).stdout)
    fresh, kept = kinds(json.loads(f.read_text())), kinds(committed)
    stale += [f"{rel} cell {cid}: committed {kept.get(cid)}, now {fresh.get(cid)}" for cid in fresh.keys() | kept.keys()
              if fresh.get(cid) != kept.get(cid)]
if stale:
    print("Notebook outputs are stale (run `nbdev-test --save && nbdev-clean` and commit):", *stale, sep='\n  ', file=sys.stderr)
    sys.exit(1)
print(f"The notebooks' kept outputs are fresh ({len(list((root/'nbs').glob('*.ipynb')))} notebooks).")
