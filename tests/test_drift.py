"""Drift of what the server sees: 50 official test photos leave `/metrics`' alarm off, 50 overhead photos (another
camera) turn it on, and `drift` on the same two folders agrees, statistic for statistic."""
import json, os, subprocess

import httpx
import numpy as np
import pytest

from conftest import CLI, loopback_server
from nutrition_predictor.config import TrainConfig, config_dishes
from nutrition_predictor.data import dish_table, scan_times
from nutrition_predictor.runs import pretrained_run


def _metric(text:str, name:str) -> float:
    return float(next(l.split()[-1] for l in text.splitlines() if l.startswith(name + ' ')))


@pytest.fixture(scope='module')
def folders(n5k_root, tmp_path_factory):
    "The first 50 photos of the official side-view test split, and of the overhead view, by scan time: each a folder of links."
    side = config_dishes(TrainConfig(data_dir=str(n5k_root)))
    tables = dict(test=side[side.split == 'test'],
                  overhead=dish_table(str(n5k_root), view='overhead', camera='A', frame=2, max_kcal=3000.))
    out = {}
    for name, t in tables.items():
        t = t.iloc[np.argsort(scan_times(t.dish_id), kind='stable')][:50]
        assert len(t) == 50, f"the data folder has {len(t)} {name} photos; the test needs 50"
        folder = out[name] = tmp_path_factory.mktemp(name)
        for dish, img in zip(t.dish_id, t.image): os.symlink(img, folder/f'{dish}.jpg')
    return out


@pytest.fixture(scope='module')
def url():
    from nutrition_predictor.serve import serve_app
    with loopback_server(serve_app(None, 'onnx', ui=False)) as url: yield url


def _post_all(url, folder) -> str:
    "Post the folder's photos five at a time; `/metrics` afterwards."
    photos = sorted(folder.iterdir())
    for i in range(0, len(photos), 5):
        r = httpx.post(f'{url}/v1/predict', files=[('file', (p.name, p.read_bytes())) for p in photos[i:i + 5]], timeout=300)
        assert r.status_code == 200 and all('calories_kcal' in a for a in r.json())
    return httpx.get(f'{url}/metrics').text


def test_the_window_alarms_on_another_camera_and_drift_agrees(url, folders, tmp_path):
    ref = pretrained_run().drift()
    assert ref.window == 50
    before = httpx.get(f'{url}/metrics').text
    assert _metric(before, 'nutrition_drift_photos') == 0 and np.isnan(_metric(before, 'nutrition_drift_statistic'))
    seen = {}
    for name in ('test', 'overhead'):                              # the window slides from one population to the other
        m = _post_all(url, folders[name])
        seen[name] = dict(statistic=_metric(m, 'nutrition_drift_statistic'), alarm=_metric(m, 'nutrition_drift_alarm'),
                          flagged=_metric(m, 'nutrition_drift_flagged_share'))
        assert _metric(m, 'nutrition_drift_photos') == 50 and _metric(m,
                'nutrition_drift_threshold') == pytest.approx(ref.threshold)
    assert seen['test']['alarm'] == 0 and seen['test']['statistic'] < ref.threshold
    assert seen['overhead']['alarm'] == 1 and seen['overhead']['statistic'] > ref.threshold
    assert seen['overhead']['flagged'] > seen['test']['flagged']
    for name, rc in (('test', 0), ('overhead', 1)):               # the command on the same folders: the same numbers
        r = subprocess.run([CLI, 'drift', str(folders[name]), '--out', str(tmp_path/name)], capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == rc, r.stderr
        rep = json.loads((tmp_path/name/'drift.json').read_text())
        assert rep['n_windows'] == 1 and rep['drifted'] == bool(rc)
        assert rep['statistics'][0] == pytest.approx(seen[name]['statistic'], rel=1e-4, abs=1e-6)
        assert rep['flagged_share'] == pytest.approx(seen[name]['flagged'])
        assert (tmp_path/name/'drift.png').stat().st_size > 10_000


def test_the_shipped_run_reports_its_drift_reference():
    g = pretrained_run().metrics().guard
    ref = pretrained_run().drift()
    assert (g.drift_window, g.drift_threshold) == (ref.window, pytest.approx(ref.threshold))
    assert g.drift_test['windows_drifted'] == 0 and g.drift_other_view['windows_drifted'] == g.drift_other_view['n_windows'] > 0
    assert (ref.null > ref.threshold).mean() <= ref.false_alarm


def test_a_trained_run_has_its_drift_reference(offline_run):
    "`train` calibrates a drift reference beside the guard, and reports its windows of the test split in metrics.json."
    from nutrition_predictor.runs import RunFolder
    run = RunFolder(offline_run)
    ref, g = run.drift(), run.metrics().guard
    assert ref is not None and run.problems() == [] and 'drift.npz' in (run.path/'complete.json').read_text()
    assert (g.drift_window, g.drift_threshold) == (ref.window, pytest.approx(ref.threshold))
    assert g.drift_test['n_photos'] == g.n_test and g.drift_test['window'] == ref.window
