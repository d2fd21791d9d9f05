"""`nutrition-predictor serve`'s app on a loopback port: the REST API with curl and httpx, every bad input, health,
metrics, 16 concurrent clients, and the demo mounted at /."""
import json, shutil, subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bad_inputs import make_bad_inputs
from conftest import approx_values, loopback_server
from nutrition_predictor.plate import FIELDS
from nutrition_predictor.predict import Predictor


@pytest.fixture(scope='module')
def url(offline_run):
    from nutrition_predictor.serve import serve_app
    with loopback_server(serve_app(offline_run)) as url: yield url


def _post(url, *paths):
    return httpx.post(f'{url}/v1/predict', files=[('file', (p.name, p.read_bytes())) for p in paths], timeout=120)


@pytest.mark.skipif(shutil.which('curl') is None, reason='no curl')
def test_curl_one_photo(url, offline_run, test_images):
    r = subprocess.run(['curl', '-s', '-F', f'file=@{test_images[0]}', f'{url}/v1/predict'], capture_output=True,
                       text=True, timeout=120)
    [answer] = json.loads(r.stdout)
    expected = Predictor.from_run(offline_run).predict(test_images[0]).to_dict()
    # file, the model's warning, the five values, their ranges, the guard
    assert list(answer)[2:] == list(expected)
    assert {k: answer[k] for k in expected} == approx_values(expected)
    assert {f'{f}_{end}' for f in FIELDS for end in ('low', 'high')} <= set(answer) and answer['unlike_training'] is False


def test_several_files_with_a_bad_one(url, test_images, tmp_path):
    from pathlib import Path
    (tmp_path/'notes.jpg').write_text('not a photo')
    r = _post(url, Path(test_images[0]), tmp_path/'notes.jpg', Path(test_images[1]))
    assert r.status_code == 200
    a, b, c = r.json()
    assert (a['file'], b['file'], c['file']) == (Path(test_images[0]).name, 'notes.jpg', Path(test_images[1]).name)
    assert 'notes.jpg' in b['error'] and 'not an image file' in b['error'] and a['calories_kcal'] > 0 and c['mass_g'] > 0


def test_each_bad_input_gets_a_4xx_that_names_it(url, n5k_root, test_images, tmp_path):
    from pathlib import Path
    jpeg = next((n5k_root/'side_angle_images').rglob('*.jpeg'))
    bad = make_bad_inputs(tmp_path, jpeg)
    (tmp_path/'page.jpg').write_text('<!doctype html><html><body>not a photo</body></html>')
    bad[tmp_path/'page.jpg'] = 'not an image file'
    big = tmp_path/'big.png'
    big.write_bytes(Path(test_images[0]).read_bytes() + b'\0' * (21 * 2**20)); bad[big] = 'upload cap'
    for path, expect in bad.items():
        r = _post(url, path)
        assert 400 <= r.status_code < 500, (path.name, r.status_code)
        [answer] = r.json()
        assert answer['file'] == path.name and expect in answer['error'] and path.name in answer['error'], (path.name, answer)
        assert 'Traceback' not in r.text
        assert _post(url, Path(test_images[1])).status_code == 200        # and the server keeps serving
    assert big.stat().st_size > 20 * 2**20 and _post(url, big).status_code == 413


def test_health_and_metrics_move(url, test_images, offline_run):
    from pathlib import Path
    h = httpx.get(f'{url}/health').json()
    from nutrition_predictor.runs import RunFolder
    cfg = RunFolder(offline_run).config()
    assert h['model_loaded'] and h['backbone'] == list(cfg.backbone) and h['view'] == cfg.view and h['guard'] and h['version']
    def count(text, line): return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(line))
    before = httpx.get(f'{url}/metrics').text
    for i in range(3): assert _post(url, Path(test_images[i])).status_code == 200
    after = httpx.get(f'{url}/metrics').text
    ok = 'nutrition_requests_total{route="/v1/predict",status="200"}'
    assert count(after, ok) == count(before, ok) + 3
    assert count(after, 'nutrition_request_seconds_count{route="/v1/predict"}') >= count(before,
            'nutrition_request_seconds_count{route="/v1/predict"}') + 3
    assert count(after, 'nutrition_images_predicted_total') == count(before, 'nutrition_images_predicted_total') + 3
    assert 'nutrition_batch_size_bucket' in after and 'nutrition_guard_flags_total' in after
    assert httpx.get(f'{url}/docs').status_code == 200 and '/v1/predict' in httpx.get(f'{url}/openapi.json').text


def test_sixteen_concurrent_clients(url, test_images):
    "Correctness under concurrency: 16 clients x 8 requests, every answer the right one. (Throughput: benchmarks/load_test.py.)"
    from pathlib import Path
    def client(k):
        with httpx.Client(timeout=120) as c:
            out = []
            for i in range(8):
                p = Path(test_images[(k + i) % 16])
                r = c.post(f'{url}/v1/predict', files={'file': (p.name, p.read_bytes())})
                out.append(((k + i) % 16, r.status_code, r.json()[0].get('calories_kcal')))
            return out
    with ThreadPoolExecutor(16) as pool: results = [x for xs in pool.map(client, range(16)) for x in xs]
    assert len(results) == 128 and all(s == 200 for _, s, _ in results)
    by_file = {}
    for image, _, kcal in results: by_file.setdefault(image, []).append(kcal)
    assert len(by_file) == 16                                       # (the sample's frames all share one file name)
    for image, vals in by_file.items(): assert max(vals) - min(vals) <= 1e-3 * max(vals), image   # batching changes no answer


def test_demo_is_mounted_at_root(url, test_images):
    from gradio_client import Client, handle_file
    values, table, chart = Client(f'{url}/', verbose=False).predict(handle_file(test_images[0]), api_name='/predict')
    assert list(values)[:5] == FIELDS and 'likely range' in table and '<svg' in chart
