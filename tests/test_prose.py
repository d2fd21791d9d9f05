"""The notebooks' prose names what exists: every `module.name` it mentions resolves in the package (prose that outlived a
rename fails here)."""
import importlib, json, re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT/'nutrition_predictor').glob('*.py') if not p.stem.startswith('_'))
FILE_SUFFIXES = {'py', 'ipynb', 'json', 'yaml', 'yml', 'csv', 'png', 'npz', 'txt', 'md', 'onnx', 'pth', 'h264', 'jpeg', 'jpg',
                 'sha256', 'safetensors', 'part', 'partial', 'frames'}                     # `model.onnx` is a file, not a name
REFERENCE = re.compile(r'`(' + '|'.join(MODULES) + r')\.([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)*)')


def references() -> list[tuple[str, str]]:
    "`(notebook, 'module.name[.attr]')` for each reference in a markdown cell."
    out = []
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        for cell in json.loads(nb.read_text())['cells']:
            if cell['cell_type'] != 'markdown': continue
            for m in REFERENCE.finditer(''.join(cell['source'])):
                if m.group(2) not in FILE_SUFFIXES: out.append((nb.name, f'{m.group(1)}.{m.group(2)}{m.group(3)}'))
    return sorted(set(out))


def test_there_are_references_to_check():
    assert len(references()) > 20                                        # the pattern finds the prose's references


@pytest.mark.parametrize('notebook,ref', references())
def test_each_reference_resolves(notebook, ref):
    module, *names = ref.split('.')
    obj = importlib.import_module(f'nutrition_predictor.{module}')
    for name in names:
        assert hasattr(obj, name), f"{notebook} mentions `{ref}`, but {getattr(obj, '__name__', obj)} has no {name}"
        obj = getattr(obj, name)
