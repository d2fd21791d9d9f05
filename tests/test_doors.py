"The demo and the REST API are two doors on one pipeline: the same file and mass get the same answer, or the same refusal."
from pathlib import Path

import gradio as gr
import pytest
from fastapi.testclient import TestClient

from conftest import ROOT
from nutrition_predictor.demo import predict_fn
from nutrition_predictor.predict import Predictor
from nutrition_predictor.serve import create_app

EXAMPLES = sorted((ROOT/'nutrition_predictor/pretrained/examples').glob('*.jpg'))


@pytest.fixture(scope='module')
def doors(tmp_path_factory):
    "`(api(path, mass), demo(path, mass))`: each returns `('ok', answer dict)` or `('refused', message)`."
    predictor = Predictor.from_run()
    app = create_app(predictor, view=predictor.run.config().view)
    client = TestClient(app).__enter__()
    demo = predict_fn(predictor, predictor.typical(), None, app.state.batcher)
    def api(path, mass):
        r = client.post('/v1/predict', files={'file': (Path(path).name, Path(path).read_bytes())},
                        data={} if mass is None else {'mass_g': mass})
        body = r.json()
        # the demo says it in a banner
        if r.status_code == 200: return 'ok', {k: v for k, v in body[0].items() if k not in ('file', 'model_warning')}
        return 'refused', body[0]['error'] if isinstance(body, list) else body['error']
    def ui(path, mass):
        try: return 'ok', client.portal.call(demo, str(path), mass)[0]      # on the server's event loop, as when mounted
        except gr.Error as e: return 'refused', e.message
    yield api, ui
    client.__exit__(None, None, None)


def _not_an_image(tmp_path) -> Path:
    p = tmp_path/'notes.jpg'; p.write_text('not a photo'); return p


@pytest.mark.parametrize('mass', [None, '293', '0', '-5', 'abc', '1e9'])
def test_same_answer_or_refusal(doors, mass):
    api, ui = doors
    a, d = api(EXAMPLES[-1], mass), ui(EXAMPLES[-1], mass)
    assert a == d, (a, d)
    if mass in ('0', '-5', 'abc', '1e9'): assert a[0] == 'refused' and 'mass' in a[1].lower(), a
    else: assert a[0] == 'ok' and a[1]['calories_kcal'] > 0


def test_same_refusal_for_a_bad_file(doors, tmp_path):
    api, ui = doors
    bad = _not_an_image(tmp_path)
    a, d = api(bad, None), ui(bad, None)
    assert a == d and a[0] == 'refused' and 'notes.jpg' in a[1], (a, d)
