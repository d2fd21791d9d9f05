"""The serving install: the base dependencies alone (no torch, torchvision, fastai or wandb) predict and serve the
shipped model on onnxruntime, with no export step."""
import json, os, socket, subprocess, sys, time

import httpx
import numpy as np
import pytest

from conftest import ROOT
from nutrition_predictor.plate import FIELDS
from nutrition_predictor.predict import Predictor

TRAINING = ('torch', 'torchvision', 'fastai', 'wandb')
EXAMPLE = ROOT/'nutrition_predictor/pretrained/examples/dish_1561574479.jpg'


@pytest.fixture(scope='module')
def slim(tmp_path_factory) -> dict:
    """A fresh venv with `pip install <repo>` (the base dependencies only): the shipped model comes with its ONNX file,
    no export step."""
    tmp = tmp_path_factory.mktemp('slim')
    subprocess.run([sys.executable, '-m', 'venv', str(tmp/'venv')], check=True)
    r = subprocess.run([str(tmp/'venv/bin/pip'), 'install', '-q', str(ROOT)], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    return dict(bin=tmp/'venv/bin')


def test_the_slim_venv_has_no_training_stack(slim):
    code = f"import importlib.util as u; print([m for m in {TRAINING!r} if u.find_spec(m)])"
    r = subprocess.run([str(slim['bin']/'python'), '-c', code], capture_output=True, text=True, cwd='/')
    assert r.returncode == 0 and r.stdout.strip() == '[]', (r.stdout, r.stderr)


def test_predict_imports_no_torch(slim):
    """Right after `pip install .`: the shipped model predicts on onnxruntime, torch never imported, with the torch
    engine's numbers."""
    code = ("import json, sys\nfrom nutrition_predictor.predict import Predictor\np = Predictor.from_run()\n"
            f"print(json.dumps([p.engine, p.predict({str(EXAMPLE)!r}).values(), 'torch' in sys.modules]))")
    r = subprocess.run([str(slim['bin']/'python'), '-c', code], capture_output=True, text=True, cwd='/')
    assert r.returncode == 0, r.stderr[-2000:]
    engine, values, torch_loaded = json.loads(r.stdout)
    torch_values = Predictor.from_run(engine='torch').predict(EXAMPLE).values()       # this (training) install's torch engine
    assert engine == 'onnx' and not torch_loaded
    np.testing.assert_allclose(values, torch_values, rtol=1e-3)
    r = subprocess.run([str(slim['bin']/'nutrition-predictor'), 'predict', str(EXAMPLE), '--json'],
                       capture_output=True, text=True, cwd='/')
    assert r.returncode == 0, r.stderr[-2000:]
    printed = json.loads(r.stdout)
    np.testing.assert_allclose([printed[f] for f in FIELDS], torch_values, rtol=1e-3, atol=0.05)   # the CLI rounds to 0.1


def test_the_torch_engine_says_what_to_install(slim):
    r = subprocess.run([str(slim['bin']/'nutrition-predictor'), 'predict', str(EXAMPLE), '--engine', 'torch'],
                       capture_output=True, text=True, cwd='/')
    assert r.returncode == 1 and 'export' in r.stderr and '[train]' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    r = subprocess.run([str(slim['bin']/'nutrition-predictor'), 'train'], capture_output=True, text=True, cwd='/')
    assert r.returncode == 1 and "nutrition-predictor[train]" in r.stderr and 'Traceback' not in r.stderr, r.stderr


def test_serve_onnx_answers_as_the_host(slim):
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    server = subprocess.Popen([str(slim['bin']/'nutrition-predictor'), 'serve', '--port', str(port)], cwd='/',
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={k: v for k, v in os.environ.items() if k != 'NUTRITION5K_DIR'})
    try:
        url = f'http://127.0.0.1:{port}'
        for _ in range(240):
            try:
                if httpx.get(f'{url}/health', timeout=2).status_code == 200: break
            except httpx.TransportError: time.sleep(0.5)
        else:
            pytest.fail("the slim server did not start: "
                        f"{server.stderr.read().decode()[-2000:] if server.poll() is not None else ''}")
        got = httpx.post(f'{url}/v1/predict', files={'file': (EXAMPLE.name, EXAMPLE.read_bytes())}, timeout=120).json()[0]
        host = Predictor.from_run().predict(EXAMPLE).to_dict()                     # the shipped model, here on onnxruntime too
        np.testing.assert_allclose([got[f] for f in FIELDS], [host[f] for f in FIELDS], rtol=1e-4)
        assert got['unlike_training'] == host['unlike_training']
        # ONNX lists them too
        assert got['ingredients'] and [i['ingr_id'] for i in got['ingredients']] == [i['ingr_id'] for i in host['ingredients']]
        torch_host = Predictor.from_run(engine='torch').predict(EXAMPLE).to_dict()
        assert [i['ingr_id'] for i in host['ingredients']] == [i['ingr_id'] for i in torch_host['ingredients']]
    finally:
        server.terminate(); server.wait(timeout=30)
