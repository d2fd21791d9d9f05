"`nutrition-predictor predict` on the test images: one result per image; a bad file is named, the rest still run."
import json, subprocess

from conftest import CLI, approx_values
from nutrition_predictor.plate import FIELDS
from nutrition_predictor.predict import Predictor


def _some(images:list) -> list:
    "Twelve test photos: ten the guard passes and the two it doubts most (these tests check the command, not the model)."
    return images[:10] + images[-2:]


def _predict(run, files, *opts):
    return subprocess.run([CLI, 'predict', *files, '--run', str(run), *opts], capture_output=True, text=True, timeout=600)


def test_table_has_one_row_per_image(offline_run, test_images):
    r = _predict(offline_run, _some(test_images))
    assert r.returncode == 0, r.stderr
    rows = [l for l in r.stdout.splitlines()[1:] if l.strip() and not l.startswith(' ')]     # indented: the likely ingredients
    assert len(rows) == len(_some(test_images)) > 0
    assert r.stdout.splitlines()[0].split()[1:6] == FIELDS
    assert all(' guard ' in l and (l.endswith(' ok') or ' DO NOT TRUST: ' in l) for l in rows)   # the verdict with its scale
    assert any(' [' in l for l in rows)                                                           # the ranges
    assert any(l.startswith('    likely: ') and ' g (' in l for l in r.stdout.splitlines())


def test_corrupt_file_is_named_and_others_run(offline_run, test_images, tmp_path):
    bad = tmp_path/'half.png'
    bad.write_bytes(open(test_images[0], 'rb').read()[:5000])      # a truncated PNG
    r = _predict(offline_run, [*_some(test_images), str(bad)])
    assert r.returncode != 0
    assert len([l for l in r.stdout.splitlines()[1:] if l.strip() and not l.startswith(' ')]) == len(_some(test_images))
    errors = [l for l in r.stderr.splitlines() if l.startswith('error:')]
    assert len(errors) == 1 and 'half.png' in errors[0]


def test_json_lines_match_the_library(offline_run, test_images, tmp_path):
    (tmp_path/'notes.jpg').write_text('a text file, renamed')
    r = _predict(offline_run, [test_images[0], str(tmp_path/'notes.jpg')], '--json')
    first, second = [json.loads(l) for l in r.stdout.splitlines()]
    assert first.pop('image') == test_images[0]
    # the CLI predicts in batches, `predict` one image alone: the same numbers up to float noise
    assert first == approx_values(Predictor.from_run(offline_run).predict(test_images[0]).to_dict())
    assert 'notes.jpg' in second['error'] and 'not an image file' in second['error']
    assert r.returncode == 1
