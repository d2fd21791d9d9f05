"""The serving image: built with docker/build.sh (no registry, no network in the build), run on a loopback port with the
host's network, and checked as a user would: /health, /v1/predict (the host's ONNX numbers), /metrics, a bad file, and a
clean stop on SIGTERM. Skipped, saying why, where Docker cannot run. Build time and image size go to test-output/."""
import json, os, shutil, socket, subprocess, sys, time

import httpx
import numpy as np
import pytest

from conftest import ROOT

TAG, NAME = 'nutrition-predictor:test', 'nutrition-predictor-test'
EXAMPLE = ROOT/'nutrition_predictor/pretrained/examples/dish_1561574479.jpg'


def _docker_usable() -> str|None:
    "Why Docker cannot be used here, or `None`."
    if not shutil.which('docker'): return "no docker command (Debian package docker.io)"
    if subprocess.run(['docker', 'info'], capture_output=True).returncode == 0: return None
    if not shutil.which('dockerd'): return "no docker daemon and no dockerd to start"
    if os.geteuid() != 0: return "dockerd is not running and only root can start it"
    if not shutil.which('debootstrap'): return "no debootstrap to make a base image (Debian package debootstrap)"
    return None


pytestmark = pytest.mark.skipif(bool(_docker_usable()), reason=_docker_usable() or '')


@pytest.fixture(scope='module')
def image(output_dir):
    subprocess.run(['docker', 'rm', '-f', NAME], capture_output=True)     # a container an interrupted run left
    t0 = time.monotonic()
    r = subprocess.run(['bash', 'docker/build.sh', TAG], cwd=ROOT, capture_output=True, text=True, timeout=3600,
                       env={**os.environ, 'PYTHON': sys.executable})     # this environment exports the model
    seconds = time.monotonic() - t0
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    size = int(subprocess.run(['docker', 'image', 'inspect', TAG, '--format', '{{.Size}}'], capture_output=True,
                              text=True).stdout)
    (output_dir/'container.json').write_text(json.dumps(dict(build_seconds=seconds, image_bytes=size), indent=1))
    yield dict(size=size, model=ROOT/'build/docker/model')
    subprocess.run(['docker', 'rm', '-f', NAME], capture_output=True)     # also one a failed `container` start left
    subprocess.run(['docker', 'rmi', TAG], capture_output=True)           # the test's image is the test's: CI's disk is shared


def test_build_leaves_no_build_stage(image):
    "Rebuilding must not fill the disk: build.sh removes the build stage (about 1 GB) once the image is built."
    left = subprocess.run(['docker', 'images', '--all', '--filter', 'label=nutrition-predictor=build', '-q'],
                          capture_output=True, text=True).stdout.split()
    assert left == [], left


@pytest.fixture(scope='module')
def container(image):
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    r = subprocess.run(['docker', 'run', '-d', '--name', NAME, '--network=host', '-e', f'PORT={port}', TAG],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    url = f'http://127.0.0.1:{port}'
    for _ in range(240):
        try:
            if httpx.get(f'{url}/health', timeout=2).status_code == 200: break
        except httpx.TransportError: time.sleep(0.5)
    else: pytest.fail(subprocess.run(['docker', 'logs', NAME], capture_output=True, text=True).stderr[-3000:])
    yield url
    subprocess.run(['docker', 'rm', '-f', NAME], capture_output=True)


def test_image_is_slim(image):
    assert image['size'] < 1.5e9, image['size']
    r = subprocess.run(['docker', 'run', '--rm', '--network=none', TAG, 'python3', '-c',
                        "import importlib.util as u; print([m for m in ('torch', 'fastai', 'wandb') if u.find_spec(m)])"],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == '[]', r.stdout + r.stderr
    user = subprocess.run(['docker', 'image', 'inspect', TAG, '--format', '{{.Config.User}} {{json .Config.Healthcheck.Test}}'],
                          capture_output=True, text=True).stdout
    assert user.startswith('app ') and '/health' in user, user


def test_container_answers_as_the_host(container, image):
    from nutrition_predictor.plate import FIELDS
    from nutrition_predictor.predict import Predictor
    got = httpx.post(f'{container}/v1/predict', files={'file': (EXAMPLE.name, EXAMPLE.read_bytes())}, timeout=120)
    assert got.status_code == 200, got.text
    host = Predictor.from_run(image['model'], engine='onnx').predict(EXAMPLE).to_dict()
    np.testing.assert_allclose([got.json()[0][f] for f in FIELDS], [host[f] for f in FIELDS], rtol=1e-4)
    bad = httpx.post(f'{container}/v1/predict', files={'file': ('notes.jpg', b'not a photo')}, timeout=60)
    assert 400 <= bad.status_code < 500 and 'notes.jpg' in bad.text, bad.text
    metrics = httpx.get(f'{container}/metrics').text
    assert 'nutrition_images_predicted_total 1.0' in metrics and 'nutrition_image_errors_total' in metrics


def test_container_stops_cleanly_on_sigterm(container):
    r = subprocess.run(['docker', 'stop', '--time', '10', NAME], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    code = subprocess.run(['docker', 'inspect', NAME, '--format', '{{.State.ExitCode}}'], capture_output=True,
                          text=True).stdout.strip()
    assert code == '0', f"exit code {code}: killed after the grace period rather than stopping on SIGTERM"
