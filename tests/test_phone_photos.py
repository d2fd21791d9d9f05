"""Every photo a phone takes, through every door (library, CLI, REST API, demo), with the model shipped with the package
(no dataset needed): HEIC (also when named .jpg) and AVIF read like the JPEG they were made from, a 50-megapixel
JPEG is accepted, a JPEG missing only its end marker is read, cut-outs whose hidden pixels differ predict the same;
and a blank frame is flagged as blank at every door."""
import io, json, subprocess

import numpy as np
import pytest
from PIL import Image

from conftest import CLI
from nutrition_predictor.guard import LOW_INFORMATION
from nutrition_predictor.predict import Predictor
from nutrition_predictor.runs import pretrained_run


EXAMPLES = sorted((pretrained_run().path/'examples').glob('*.jpg'))   # test-split dishes, as JPEG files


def _encoded(img:np.ndarray, fmt:str, **kw) -> bytes:
    buf = io.BytesIO(); Image.fromarray(img).save(buf, fmt, **kw); return buf.getvalue()


def _versions(jpeg:bytes) -> dict:
    "Name -> bytes of each version of a photo, written the way phones and apps write them."
    photo = np.asarray(Image.open(io.BytesIO(jpeg)).convert('RGB'))
    out = {'photo.jpg': jpeg, 'photo.heic': _encoded(photo, 'HEIF', quality=95),
           'heic_named.jpg': _encoded(photo, 'HEIF', quality=95),
           'photo.avif': _encoded(photo, 'AVIF', quality=95), 'no_end_marker.jpg': jpeg[:-2],
           'phone_50mp.jpg': _encoded(np.asarray(Image.fromarray(photo).resize((8160, 6120))), 'JPEG', quality=85),
           'black.jpg': _encoded(np.zeros((3024, 4032, 3), np.uint8), 'JPEG')}
    h, w = photo.shape[:2]
    for k, hidden in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):     # a cut-out: the plate, and a transparent rest
        a = np.zeros((h, w, 4), np.uint8); a[..., :3] = hidden
        a[h//5:-h//5, w//5:-w//5, :3], a[h//5:-h//5, w//5:-w//5, 3] = photo[h//5:-h//5, w//5:-w//5], 255
        out[f'cutout{k}.png'] = _encoded(a, 'PNG')
    return out


@pytest.fixture(scope='module')
def files(tmp_path_factory) -> dict:
    "Name -> path of each version of the last example photo."
    d = tmp_path_factory.mktemp('phone')
    for name, data in _versions(EXAMPLES[-1].read_bytes()).items(): (d/name).write_bytes(data)
    return {p.name: p for p in d.iterdir()}


@pytest.fixture(scope='module')
def predictor(): return Predictor.from_run()


def _close(a:dict, b:dict, rel=0.01, keys=('calories_kcal', 'mass_g')):
    for k in keys: assert a[k] == pytest.approx(b[k], rel=rel, abs=0.05), k


@pytest.mark.parametrize('example', EXAMPLES, ids=lambda p: p.stem)
def test_heic_reads_like_the_jpeg(predictor, example):
    "Each shipped photo, made HEIC by pillow-heif: calories and mass within 1% of the JPEG's, the other values within 3%."
    v = _versions(example.read_bytes())
    heic, jpeg = predictor.predict(v['photo.heic']).to_dict(), predictor.predict(v['photo.jpg']).to_dict()
    _close(heic, jpeg)
    _close(heic, jpeg, 0.03, ('fat_g', 'carb_g', 'protein_g'))


def test_library(predictor, files):
    p = {name: predictor.predict(path).to_dict() for name, path in files.items()}
    for name in ('photo.heic', 'heic_named.jpg'): _close(p[name], p['photo.jpg'])          # within 1%
    for name in ('photo.avif', 'phone_50mp.jpg'): _close(p[name], p['photo.jpg'], rel=0.05)   # other codec; resampled 12x up
    assert p['no_end_marker.jpg'] == p['photo.jpg']                            # every pixel was there
    assert p['cutout0.png'] == p['cutout1.png'] == p['cutout2.png']             # hidden pixels change nothing
    assert p['black.jpg']['unlike_training'] and p['black.jpg']['guard_reason'] == LOW_INFORMATION
    with pytest.raises(Exception, match='truncated'): predictor.predict(files['photo.jpg'].read_bytes()[:20000])


def test_cli(files, tmp_path):
    names = ['photo.jpg', 'photo.heic', 'heic_named.jpg', 'phone_50mp.jpg', 'no_end_marker.jpg', 'black.jpg']
    r = subprocess.run([CLI, 'predict', *(str(files[n]) for n in names), '--json'], capture_output=True, text=True,
                       timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    got = dict(zip(names, map(json.loads, r.stdout.splitlines())))
    for n in names[1:3]: _close(got[n], got['photo.jpg'])
    for n in names[3:5]: _close(got[n], got['photo.jpg'], rel=0.05)
    assert got['black.jpg']['guard_reason'] == LOW_INFORMATION and got['black.jpg']['calories_kcal_low'] is None
    assert 'black.jpg' in r.stderr and 'Do not trust these numbers' in r.stderr
    table = subprocess.run([CLI, 'predict', str(files['black.jpg'])], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert table.stdout.splitlines()[1].endswith(f'DO NOT TRUST: {LOW_INFORMATION}')


def test_rest_api(predictor, files):
    from fastapi.testclient import TestClient
    from nutrition_predictor.serve import create_app
    with TestClient(create_app(predictor)) as client:
        def post(name): return client.post('/v1/predict', files={'file': (name, files[name].read_bytes())}).json()[0]
        ref = post('photo.jpg')
        for name in ('photo.heic', 'heic_named.jpg', 'no_end_marker.jpg'): _close(post(name), ref)
        for name in ('photo.avif', 'phone_50mp.jpg'): _close(post(name), ref, rel=0.05)
        black = post('black.jpg')
        assert black['guard_reason'] == LOW_INFORMATION and black['calories_kcal_low'] is None
        assert 'Do not trust' in black['warning']


def test_demo(predictor, files):
    from gradio_client import Client, handle_file
    from nutrition_predictor.demo import build_demo, launch_demo
    demo = build_demo(predictor=predictor)
    launch_demo(demo)
    try:
        client = Client(demo.local_url, verbose=False)
        ref, _, _ = client.predict(handle_file(str(files['photo.jpg'])), api_name='/predict')
        heic, _, _ = client.predict(handle_file(str(files['photo.heic'])), api_name='/predict')
        _close(heic, ref)
        black, table, _ = client.predict(handle_file(str(files['black.jpg'])), api_name='/predict')
        assert black['guard_reason'] == LOW_INFORMATION and table.startswith('**Do not trust these numbers')
    finally: demo.close()
