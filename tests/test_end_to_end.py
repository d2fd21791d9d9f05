"The offline params file, end to end on the real sample: train, evaluate, save, reload, same predictions."
import json

import numpy as np
import pandas as pd
import pytest

from nutrition_predictor.data import TARGETS, dish_table
from nutrition_predictor.evaluate import predict_dishes
from nutrition_predictor.train import load_model


def test_run_folder_has_everything(offline_run):
    for f in ['train.ipynb', 'params.yaml', 'metrics.json', 'model.pth', 'model.json', 'test_predictions.csv',
              'predictions.png', 'residuals.png', 'loss.png']:
        assert (offline_run/f).is_file() and (offline_run/f).stat().st_size > 0, f
    assert (offline_run/'wandb').is_dir()                          # wandb ran, offline


def test_metrics(offline_run, n5k_root):
    m = json.loads((offline_run/'metrics.json').read_text())
    assert (m['backbone'], m['view']) == ('efficientnet_lite0', 'side')
    dishes = dish_table(n5k_root, view='side', camera='A', frame=2)
    assert (m['n_train'], m['n_test']) == ((dishes.split == 'train').sum(), (dishes.split == 'test').sum())
    for k in ['mae', 'mae_pct', 'baseline_mae', 'baseline_mae_pct']:
        assert sorted(m[k]) == sorted(TARGETS)
        assert all(np.isfinite(v) and v >= 0 for v in m[k].values())
    assert m['reload_identical'] is True


def test_model_beats_the_mean(offline_run):
    "A model that learned nothing from the pixels predicts the training mean: ours must beat it on the test split and in CV."
    m = json.loads((offline_run/'metrics.json').read_text())
    for t in ('calories', 'mass'):
        assert m['mae_pct'][t] < 0.8 * m['baseline_mae_pct'][t], (t, m['mae_pct'][t], m['baseline_mae_pct'][t])
        assert m['cv']['vs_baseline'][t] < 0.8, (t, m['cv']['vs_baseline'][t])
    for t in TARGETS: assert m['mae_pct'][t] < m['baseline_mae_pct'][t], t


def test_reload_reproduces_test_predictions(offline_run, n5k_root):
    "Load the saved state dict + config in a fresh process and predict the test split again: exactly the same numbers."
    saved = pd.read_csv(offline_run/'test_predictions.csv', index_col='dish_id')
    t = dish_table(n5k_root, view='side', camera='A', frame=2)
    again = predict_dishes(load_model(offline_run), t[t.split == 'test'])
    assert list(again.index) == list(saved.index)
    np.testing.assert_array_equal(again[TARGETS].to_numpy(np.float32), saved[TARGETS].to_numpy(np.float32))
