"""A run that does not beat predicting the training mean, and whose answers go beyond its training labels, is said to be
so at every door: `predict` (CLI), the API (a field of each answer, and /health) and the demo (a banner). The run is the
shipped model with its metrics.json saying it loses to the mean for calories and mass, and its bounds set below what it
predicts for the example photos (both are what a run trained on too few dishes has), sealed again as a finished run."""
import json, shutil, subprocess

import pytest
from fastapi.testclient import TestClient

from conftest import CLI, ROOT
from nutrition_predictor.guard import BEYOND_TRAINING
from nutrition_predictor.plate import FIELDS
from nutrition_predictor.predict import Predictor
from nutrition_predictor.runs import RunFolder, pretrained_run, weak_model_warning
from nutrition_predictor.serve import create_app

EXAMPLES = sorted((ROOT/'nutrition_predictor/pretrained/examples').glob('*.jpg'))


@pytest.fixture(scope='module')
def weak_run(tmp_path_factory) -> RunFolder:
    run = RunFolder(tmp_path_factory.mktemp('weak')/'run')
    shutil.copytree(pretrained_run().path, run.path, ignore=shutil.ignore_patterns('examples', 'model.onnx'))
    m = json.loads(run.metrics_file.read_text())
    for where in ('test', 'cv'): m[where]['vs_baseline'].update(calories=1.3, mass=1.05)
    run.metrics_file.write_text(json.dumps(m))
    shipped = Predictor.from_run().predict_batch([str(p) for p in EXAMPLES])
    c = json.loads(run.model_config_file.read_text())
    c['upper_bound'] = [0.5 * min(p.totals[i] for p in shipped)
                        for i in range(len(FIELDS))] + [100.] * (len(c['targets']) - len(FIELDS))
    run.model_config_file.write_text(json.dumps(c))
    run.seal()
    return run


def test_the_library_flags_answers_at_the_bound(weak_run):
    p = Predictor.from_run(weak_run)
    bound = p.config.upper_bound
    test_warning = weak_model_warning(['calories', 'mass'])
    assert p.worse_than_mean == ['calories', 'mass'] and p.model_warning == test_warning
    for pred in p.predict_batch([str(e) for e in EXAMPLES]):
        assert all(v <= b * (1 + 1e-6) for v, b in zip(pred.totals, bound))                 # held at the bound, never above
        assert pred.unlike_training and pred.guard_reason == BEYOND_TRAINING and pred.low is None
        d = pred.to_dict()
        assert d['warning'] and 'beyond the largest plates' in d['warning'] and d['guard_threshold'] > 0


def test_predict_says_so(weak_run):
    r = subprocess.run([CLI, 'predict', str(EXAMPLES[0]), '--run', str(weak_run.path), '--json'], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'does not beat predicting the training mean for calories, mass' in r.stderr
    assert 'beyond the largest plates it was trained on' in r.stderr
    answer = json.loads(r.stdout)
    assert answer['guard_reason'] == BEYOND_TRAINING and answer['guard_threshold'] > 0


def test_the_api_says_so(weak_run):
    with TestClient(create_app(Predictor.from_run(weak_run))) as client:
        health = client.get('/health').json()
        assert health['worse_than_mean'] == ['calories', 'mass'] and 'training mean' in health['model_warning']
        [answer] = client.post('/v1/predict', files={'file': (EXAMPLES[0].name, EXAMPLES[0].read_bytes())}).json()
        assert answer['model_warning'] == health['model_warning'] and answer['guard_reason'] == BEYOND_TRAINING
    with TestClient(create_app(Predictor.from_run())) as client:                               # the shipped model beats the mean
        [answer] = client.post('/v1/predict', files={'file': (EXAMPLES[0].name, EXAMPLES[0].read_bytes())}).json()
        assert answer['model_warning'] is None and client.get('/health').json()['worse_than_mean'] == []


def test_the_demo_says_so(weak_run):
    from nutrition_predictor.demo import build_demo
    banners = lambda demo: [c['props'].get('value',
                                           '') for c in demo.config['components'] if c['props'].get('elem_id') == 'model-warning']
    [banner] = banners(build_demo(weak_run.path))
    assert 'does not beat predicting the training mean for calories, mass' in banner
    assert banners(build_demo()) == []
