"The model card: the shipped one is what its metrics make, and `card` follows a run's metrics.json number for number."
import json, shutil, subprocess

import yaml

from conftest import CLI
from nutrition_predictor.card import model_card
from nutrition_predictor.runs import pretrained_run


def test_the_shipped_card_is_what_its_metrics_make():
    assert pretrained_run().card_file.read_text() == model_card()
    r = subprocess.run([CLI, 'card'], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == model_card(), r.stderr


def test_the_card_follows_the_metrics(tmp_path):
    run = tmp_path/'run'
    shutil.copytree(pretrained_run().path, run, ignore=shutil.ignore_patterns('*.onnx', 'examples', 'MODEL_CARD.md'))
    m = json.loads((run/'metrics.json').read_text())
    m['test']['mae_pct']['calories'], m['cv']['mae_pct']['mass'], m['guard']['n_nonfood'] = 12.3456, 98.765, 77
    (run/'metrics.json').write_text(json.dumps(m))
    r = subprocess.run([CLI, 'card', '--run', str(run), '--out', str(tmp_path/'card.md')], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    card = (tmp_path/'card.md').read_text()
    assert '| calories | ' in card and '12.3% (' in card and '98.8% (' in card and '77 photos that are not food' in card
    meta = yaml.safe_load(card.split('---\n')[1])
    by_name = {x['name']: x['value'] for x in meta['model-index'][0]['results'][0]['metrics']}
    assert by_name['calories MAE% (of the mean label)'] == 12.35
    r = subprocess.run([CLI, 'card', '--run', str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and 'metrics.json' in r.stderr and 'Traceback' not in r.stderr
