"The real demo server on a loopback port, called with gradio_client: good images, every bad input, and a load test."
import json, statistics, threading, time

import httpx
import pytest
from gradio_client import Client, handle_file

from bad_inputs import make_bad_inputs
from conftest import approx_values
from nutrition_predictor.plate import FIELDS
from nutrition_predictor.predict import Predictor


@pytest.fixture(scope='module')
def demo_url(offline_run, n5k_root):
    from nutrition_predictor.demo import build_demo, launch_demo
    demo = build_demo(offline_run, n5k_root)
    launch_demo(demo)                                # 127.0.0.1, a free port
    yield demo.local_url
    demo.close()


@pytest.fixture(scope='module')
def client(demo_url): return Client(demo_url, verbose=False)


def _predict(client, path): return client.predict(handle_file(str(path)), api_name='/predict')


def test_good_image_matches_the_library(client, offline_run, test_images):
    values, table, chart = _predict(client, test_images[0])
    assert list(values)[:5] == FIELDS                              # five keys, units in their names
    assert {f'{f}_{end}' for f in FIELDS for end in ('low', 'high')} <= set(values)   # the run calibrated ranges
    assert values == Predictor.from_run(offline_run).predict(test_images[0]).to_dict()
    for word in ['kcal', ' g ', 'typical error', 'likely range (90% of dishes)']: assert word in table


def test_each_bad_input_is_explained_and_the_server_keeps_serving(client, test_images, n5k_root, tmp_path):
    jpeg = next((n5k_root/'side_angle_images').rglob('*.jpeg'))
    for path, expect in make_bad_inputs(tmp_path, jpeg).items():
        with pytest.raises(Exception) as e: _predict(client, path)
        msg = str(e.value)
        assert expect in msg and path.name in msg, (path.name, msg)
        assert 'Traceback' not in msg
        values, _, _ = _predict(client, test_images[1])             # the next good request succeeds
        assert list(values)[:5] == FIELDS


def test_upload_over_the_size_cap_is_refused(client, demo_url, test_images, tmp_path):
    big = tmp_path/'big.png'
    big.write_bytes(open(test_images[0], 'rb').read() + b'\0' * (21 * 2**20))   # a valid PNG with 21 MB of trailing bytes
    with pytest.raises(Exception, match='maximum file size'): _predict(client, big)   # gradio_client checks the cap...
    r = httpx.post(f'{demo_url}gradio_api/upload', files={'files': ('big.png', big.read_bytes(), 'image/png')}, timeout=120)
    assert r.status_code == 413                                                         # ...and so does the server
    assert list(_predict(client, test_images[2])[0])[:5] == FIELDS


def test_load(demo_url, test_images, output_dir):
    "8 concurrent clients, 96 requests in all (12 each), on loopback; no request may fail. Latencies go to a benchmark file."
    n_clients, n_requests = 8, 96
    latencies, failures, lock = [], [], threading.Lock()
    def worker(k):
        c = Client(demo_url, verbose=False)
        for i in range(k, n_requests, n_clients):
            t0 = time.perf_counter()
            try:
                values = _predict(c, test_images[i % len(test_images)])[0]
                assert list(values)[:5] == FIELDS
                with lock: latencies.append(time.perf_counter() - t0)
            except Exception as e:
                with lock: failures.append(repr(e))
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_clients)]
    for t in threads: t.start()
    for t in threads: t.join(timeout=1800)
    wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [float('nan')] * 19
    result = dict(clients=n_clients, requests=n_requests, ok=len(latencies), failed=len(failures),
                  p50_s=statistics.median(latencies) if latencies else None, p95_s=q[18], wall_s=wall,
                  requests_per_s=len(latencies) / wall, failures=failures[:5])
    (output_dir/'demo_load.json').write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    assert not failures and len(latencies) == n_requests


def test_onnx_engine_drives_the_demo(offline_run, n5k_root, test_images, tmp_path):
    "The app on `Predictor.from_run(run, engine='onnx')`: the same page, numbers within float noise of the torch engine's."
    import shutil
    from nutrition_predictor.demo import build_demo, launch_demo
    from nutrition_predictor.export import export_run
    run = tmp_path/'run'
    shutil.copytree(offline_run, run, ignore=shutil.ignore_patterns('wandb', '*.ipynb'))
    export_run(run)
    predictor = Predictor.from_run(run, engine='onnx')
    assert predictor.engine == 'onnx'
    demo = build_demo(run, n5k_root, predictor=predictor)
    launch_demo(demo)
    try:
        values, table, _ = _predict(Client(demo.local_url, verbose=False), test_images[0])
        torch_values = Predictor.from_run(offline_run).predict(test_images[0]).to_dict()
        assert list(values) == list(torch_values)
        assert values == approx_values(torch_values, rel=1e-3, abs=1e-3)
        assert 'likely range (90% of dishes)' in table and 'typical error' in table
        typical = predictor.typical().to_dict()                      # the typical dish, from model.json alone
        assert f"{typical['calories_kcal']:.0f} kcal" in table
    finally: demo.close()
