"""The Space folder: `nutrition-predictor space OUT` installs from its own requirements in a fresh venv, starts on
127.0.0.1 and answers a prediction through its Gradio API; `demo --share` reaches Gradio."""
import os, socket, subprocess, sys

import pytest
import yaml

from conftest import CLI, ROOT
from nutrition_predictor.predict import Predictor

EXAMPLE = ROOT/'nutrition_predictor/pretrained/examples/dish_1561574479.jpg'


@pytest.fixture(scope='module')
def space(tmp_path_factory):
    "The Space written by the CLI, and a fresh venv with its requirements.txt installed (nothing else)."
    tmp = tmp_path_factory.mktemp('space')
    r = subprocess.run([CLI, 'space', str(tmp/'hf-space')], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    subprocess.run([sys.executable, '-m', 'venv', str(tmp/'venv')], check=True)
    r = subprocess.run([str(tmp/'venv/bin/pip'), 'install', '-q', '-r', str(tmp/'hf-space/requirements.txt')],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    return dict(folder=tmp/'hf-space', python=tmp/'venv/bin/python')


def test_the_folder_is_a_gradio_space(space):
    import gradio
    meta = yaml.safe_load((space['folder']/'README.md').read_text().split('---\n')[1])
    assert (meta['sdk'], meta['sdk_version'], meta['app_file']) == ('gradio', gradio.__version__, 'app.py')
    reqs = (space['folder']/'requirements.txt').read_text().split()
    assert reqs and all('==' in r for r in reqs) and not any(r.startswith(('torch==', 'fastai==')) for r in reqs)
    r = subprocess.run([CLI, 'space', str(space['folder'])], capture_output=True, text=True)
    assert r.returncode == 1 and 'not empty' in r.stderr and 'Traceback' not in r.stderr


def test_the_space_launches_from_a_fresh_venv_and_predicts(space):
    from gradio_client import Client, handle_file
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ('NUTRITION5K_DIR', 'PYTHONPATH')} | {'GRADIO_SERVER_PORT': str(port)}
    app = subprocess.Popen([str(space['python']), 'app.py'], cwd=space['folder'], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        line = app.stdout.readline()                                  # the app's one line, once it serves
        assert f'127.0.0.1:{port}' in line, line + app.stdout.read() if app.poll() is not None else line
        out = Client(f'http://127.0.0.1:{port}/', verbose=False).predict(handle_file(str(EXAMPLE)), '', api_name='/predict')
        values = out[0]
        expected = Predictor.from_run(engine='onnx').predict(EXAMPLE).to_dict()
        assert {k: values[k] for k in ('calories_kcal', 'mass_g', 'protein_g')} == pytest.approx(
            {k: expected[k] for k in ('calories_kcal', 'mass_g', 'protein_g')}, rel=1e-3)
        r = subprocess.run([str(space['python']), '-c',
                            "import importlib.util as u; print(u.find_spec('torch') is None)"], capture_output=True, text=True)
        assert r.stdout.strip() == 'True'
    finally:
        app.terminate(); app.wait(30)


def test_demo_share_reaches_gradio(monkeypatch):
    "`demo --share` asks Gradio's `launch` for a share link (making one needs the internet: only the option is checked)."
    import nutrition_predictor.demo as d
    from nutrition_predictor.cli import main
    asked = {}
    class Blocks:
        local_url, share_url = 'http://127.0.0.1:7860/', None
        def launch(self, **kw): asked.update(kw)
        def block_thread(self): raise KeyboardInterrupt
        def close(self): pass
    monkeypatch.setattr(d, 'build_demo', lambda *a, **kw: Blocks())
    assert main(['demo', '--share']) == 0 and asked['share'] is True
    asked.clear()
    assert main(['demo']) == 0 and asked['share'] is False
