"""Odd inputs a person or an attacker hands the commands: a model folder with a hostile model.pth (a pickle that would run
code) or guard.npz (an object array) is refused in one line naming the file, with nothing run; a folder of photos is
predicted photo by photo; a plate of 1e-300 g is no plate."""
import io, json, pickle, shutil, subprocess, zipfile

import numpy as np
import pytest

from conftest import CLI, ROOT
from nutrition_predictor.runs import pretrained_run

EXAMPLES = sorted((ROOT/'nutrition_predictor/pretrained/examples').glob('*.jpg'))


class Payload:
    "Unpickling it would create the file `path`."
    def __init__(self, path): self.path = str(path)
    def __reduce__(self): return (open, (self.path, 'w'))


def _bare_model(tmp_path, **files) -> str:
    "The shipped model's files without its run record (a bare model folder), with `files` (name -> bytes) put in."
    d = tmp_path/'model'
    shutil.copytree(pretrained_run().path, d,
                    ignore=shutil.ignore_patterns('examples', 'model.onnx', 'complete.json', 'params.yaml'))
    for name, data in files.items(): (d/name.replace('_', '.', 1)).write_bytes(data)
    return str(d)


def _one_line_refusal(run, tmp_path, name):
    r = subprocess.run([CLI, 'predict', str(EXAMPLES[0]), '--run', run], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and not r.stdout, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/'pwned').exists()


@pytest.mark.parametrize('kind', ['legacy', 'zip'])
def test_a_hostile_model_pth_is_refused_in_one_line(tmp_path, kind):
    data = pickle.dumps({'x': Payload(tmp_path/'pwned')}, protocol=2)
    if kind == 'zip':                                            # torch.save's layout: data.pkl inside a zip
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, 'w') as z: z.writestr('archive/data.pkl', data); z.writestr('archive/version', '3\n')
        data = buf.getvalue()
    _one_line_refusal(_bare_model(tmp_path, model_pth=data), tmp_path, 'model.pth')


def test_a_hostile_guard_is_refused_in_one_line(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, threshold=np.array([Payload(tmp_path/'pwned')], dtype=object))
    _one_line_refusal(_bare_model(tmp_path, guard_npz=buf.getvalue()), tmp_path, 'guard.npz')


def test_a_folder_is_predicted_photo_by_photo(tmp_path):
    d = tmp_path/'photos'; d.mkdir()
    for p in EXAMPLES[:2]: shutil.copy(p, d)
    (d/'notes.txt').write_text('not a photo')
    r = subprocess.run([CLI, 'predict', str(d), '--json'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [json.loads(l)['image'] for l in r.stdout.splitlines()] == [str(d/p.name) for p in EXAMPLES[:2]]
    assert f'{d}: 2 photos' in r.stderr


def test_a_mass_of_almost_nothing_is_refused():
    r = subprocess.run([CLI, 'predict', str(EXAMPLES[0]), '--mass-g', '1e-300'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and 'mass_g must be a weight in grams from 1' in r.stderr, r.stderr[-2000:]
