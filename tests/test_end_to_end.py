"""The offline params file, end to end on the real sample: the run folder is complete, and the model it saved beats
predicting the mean."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bad_inputs import odd_images
from nutrition_predictor.data import TARGETS
from nutrition_predictor.evaluate import cv_scores, holdout_scores
from nutrition_predictor.predict import Predictor
from nutrition_predictor.experiment import CACHED_RTOL
from nutrition_predictor.runs import RunFolder
from nutrition_predictor.config import config_dishes

from conftest import ROOT


@pytest.fixture(scope='module')
def run(offline_run): return RunFolder(offline_run)


@pytest.fixture(scope='module')
def dishes(run, n5k_root): return config_dishes(replace(run.params(), data_dir=str(n5k_root)))


@pytest.fixture(scope='module')
def fresh_answers(run, dishes) -> list:
    "The test split's photos predicted again, in this process, by the saved run as users load it (`Predictor.from_run`)."
    return Predictor.from_run(run).predict_batch(list(dishes.image[dishes.split == 'test']))


@pytest.fixture(scope='module')
def fresh_preds(fresh_answers, dishes) -> pd.DataFrame:
    "Their five values, one row per test dish."
    return pd.DataFrame([a.values() for a in fresh_answers], columns=TARGETS,
                        index=pd.Index(dishes.dish_id[dishes.split == 'test'], name='dish_id'))


def test_run_folder_has_everything(run):
    assert run.missing() == []
    for f in (run.intervals_file, run.cv_predictions_file, run.plot('cv_predictions')): assert f.is_file(), f
    assert (run.path/'wandb').is_dir()                               # wandb ran, offline
    m = run.metrics()
    assert (m.backbone, m.view, m.params) == (list(run.params().backbone), 'side', run.params())
    assert m.reload_identical is True and m.cv.k == run.params().cv_folds


def test_train_ends_with_the_headline(run):
    "`train` prints the run's headline score, and no warning for a run that beats the training mean."
    out = run.path.parent/'train.stdout'
    if not out.is_file(): pytest.skip('NP_TEST_RUN: the run was trained elsewhere, its output is not here')
    assert run.metrics().headline() in out.read_text()
    assert 'does not beat' not in (run.path.parent/'train.stderr').read_text()


def test_train_warns_when_the_run_does_not_beat_the_mean(run, monkeypatch, capsys):
    "The same run with fat scored no better than the mean in cross-validation: `train` says so, naming it."
    import nutrition_predictor.experiment as experiment
    from nutrition_predictor.cli import train_command as train
    m = run.metrics()
    poor = replace(m, cv=replace(m.cv, vs_baseline={**m.cv.vs_baseline, 'fat': 1.02}))
    done = type('Done', (), dict(path=run.path, metrics=staticmethod(lambda: poor)))
    monkeypatch.setattr(experiment, 'run_experiment', lambda cfg, out: done)
    assert train(str(ROOT/'params/offline.yaml')) == 0
    said = capsys.readouterr()
    assert "does not beat predicting the training mean for fat (its grouped CV or official test split" in said.err, said.err
    assert f"in {m.cv.k}-fold grouped CV" in said.out and 'in the test split' in said.out, said.out   # both headlines


def test_model_beats_predicting_the_mean(run, dishes, fresh_preds):
    """Scored here from the saved model and the saved out-of-fold predictions, not read from metrics.json: a head that
    predicts the training mean scores `vs_baseline` 1 on the test split and in cross-validation, and fails."""
    test = holdout_scores(fresh_preds, dishes, run.params().group_gap_s, n_boot=100)
    cv = cv_scores(pd.read_csv(run.cv_predictions_file, index_col='dish_id'), dishes, run.params().group_gap_s, n_boot=100)
    for t in ('calories', 'mass'):
        assert test.vs_baseline[t] < 0.8, (t, test.vs_baseline[t])
        assert cv.vs_baseline[t] < 0.8, (t, cv.vs_baseline[t])
    for t in TARGETS: assert test.vs_baseline[t] < 0.9 and cv.vs_baseline[t] < 0.9, t
    m = run.metrics()                     # and metrics.json records these numbers (the run's test split from cached features)
    assert m.test.mae == pytest.approx(test.mae, rel=CACHED_RTOL) and m.cv.mae == pytest.approx(cv.mae)
    assert (m.n_train, m.test.n_dishes) == ((dishes.split == 'train').sum(), (dishes.split == 'test').sum())


def test_reload_reproduces_test_predictions(run, fresh_preds):
    """The saved state dict + config, loaded in a fresh process, predict the test split's photos to the saved numbers
    (which the run computed from its cached features: the same float32 maths in other batches, within `CACHED_RTOL`)."""
    saved = pd.read_csv(run.test_predictions_file, index_col='dish_id')
    assert list(fresh_preds.index) == list(saved.index)
    np.testing.assert_allclose(fresh_preds[TARGETS].to_numpy(np.float32), saved[TARGETS].to_numpy(np.float32),
                               rtol=CACHED_RTOL, atol=1e-3)


def test_guard_and_no_negative_values(run, dishes, fresh_answers, tmp_path):
    """The run's guard, loaded with its model: at most 10% of the test split flagged, at least 90% of the non-food
    photos; and no value below 0 for the test split, the non-food photos or odd versions of a real photo."""
    from nutrition_predictor.guard import nonfood_images
    p, test = Predictor.from_run(run), fresh_answers
    nonfood = p.predict_batch(list(nonfood_images().values()))
    odd = p.predict_batch(odd_images(tmp_path, dishes.image.iloc[0]))
    assert np.mean([o.unlike_training for o in test]) <= 0.1
    assert np.mean([o.unlike_training for o in nonfood]) >= 0.9 and len(nonfood) >= 12
    for preds in (test, nonfood, odd): assert min(min(o.values()) for o in preds) >= 0
    g = run.metrics().guard                                          # metrics.json records the same rates
    assert g.false_alarm_test == pytest.approx(np.mean([o.unlike_training for o in test]))
    assert g.detection_nonfood == pytest.approx(np.mean([o.unlike_training for o in nonfood]))
