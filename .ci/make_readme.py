"Write README.md from nbs/index.ipynb: markdown cells as they are, code cells as python blocks (hidden ones left out)."
# nbdev-readme renders through Quarto, which cannot be installed on the machines this project is built on.
import json
from pathlib import Path

root = Path(__file__).resolve().parents[1]
nb = json.loads((root/'nbs/index.ipynb').read_text())
parts = ['<!-- Generated from nbs/index.ipynb by .ci/make_readme.py: edit the notebook, not this file. -->']
for cell in nb['cells']:
    src = ''.join(cell['source']).strip()
    if not src or cell['cell_type'] == 'raw': continue
    if cell['cell_type'] == 'markdown': parts.append(src)
    else:
        lines = src.splitlines()
        if any(l.replace(' ', '').startswith(('#|hide', '#|exec_doc')) for l in lines): continue
        code = '\n'.join(l for l in lines if not l.replace(' ', '').startswith('#|'))
        parts.append(f'```python\n{code}\n```')
(root/'README.md').write_text('\n\n'.join(parts) + '\n')
