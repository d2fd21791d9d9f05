"""Answers a person can trust, on the trained offline run: blank and foreign photos flagged with their reason, values
that can exist for every input (with and without a known mass), and ranges that hold for the biggest plates."""
import numpy as np
import pandas as pd
import pytest

from bad_inputs import odd_images
from nutrition_predictor.data import read_all_metadata
from nutrition_predictor.guard import LOW_INFORMATION, UNLIKE_TRAINING, blank_images, nonfood_images
from nutrition_predictor.intervals import cross_conformal_coverage
from nutrition_predictor.model import atwater_band, atwater_estimate
from nutrition_predictor.predict import Predictor
from nutrition_predictor.runs import RunFolder
from nutrition_predictor.config import config_dishes

SIZES = ('smallest', 'middle', 'largest')


@pytest.fixture(scope='module')
def run(offline_run): return RunFolder(offline_run)


@pytest.fixture(scope='module')
def predictor(run): return Predictor.from_run(run)


@pytest.fixture(scope='module')
def dishes(run, n5k_root):
    from dataclasses import replace
    return config_dishes(replace(run.params(), data_dir=str(n5k_root)))


@pytest.fixture(scope='module')
def inputs(dishes, tmp_path_factory) -> dict:
    "The four sets the issue names: the test split, photos that are not food, odd versions of a photo, blank images."
    return dict(test=list(dishes.image[dishes.split == 'test']), nonfood=list(nonfood_images().values()),
                odd=odd_images(tmp_path_factory.mktemp('odd'), dishes.image.iloc[0]), blank=list(blank_images().values()))


@pytest.fixture(scope='module')
def answers(predictor, inputs) -> dict:
    "Each set's `(prediction, error)` pairs, predicted once for the tests below (a known mass is applied afterwards)."
    return {name: list(predictor.predictions(srcs)) for name, srcs in inputs.items()}


def _predicted(answers, name) -> list:
    "The predictions of set `name`, none of which may have failed."
    assert all(err is None for _, err in answers[name]), [err for _, err in answers[name] if err]
    return [p for p, _ in answers[name]]


def test_blank_images_are_flagged_as_blank(answers):
    preds = _predicted(answers, 'blank')
    assert len(preds) >= 8 and all(p.unlike_training and p.guard_reason == LOW_INFORMATION for p in preds)
    assert all(p.low is None and p.high is None for p in preds)          # no range is claimed for them


def test_guard_rates(run, answers):
    test, nonfood = _predicted(answers, 'test'), _predicted(answers, 'nonfood')
    assert np.mean([p.unlike_training for p in test]) <= 0.10                 # false alarms on real dishes
    assert np.mean([p.unlike_training for p in nonfood]) >= 0.90
    assert {p.guard_reason for p in nonfood if p.unlike_training} <= {LOW_INFORMATION, UNLIKE_TRAINING}
    g = run.metrics().guard                                                   # metrics.json records what was measured
    assert g.false_alarm_test == pytest.approx(np.mean([p.unlike_training for p in test]))
    assert g.detection_nonfood == pytest.approx(np.mean([p.unlike_training for p in nonfood]))
    assert g.detection_blank == 1.0
    if g.other_view is not None:                                             # the sample's overhead photos: another camera
        assert g.n_other_view > 0 and 0 <= g.detection_other_view <= 1 and set(g.other_view_mae_pct) >= {'calories', 'mass'}


def _impossible(pred, band) -> list:
    "What is physically impossible about one prediction (empty when nothing is)."
    cal, mass, fat, carb, prot = pred.values()
    tol = lambda v: 1e-5 * abs(v) + 1e-6                                      # float32 rounding
    a = atwater_estimate(fat, carb, prot)
    out = []
    if min(pred.values()) < 0: out.append('below 0')
    if cal > 9 * mass + tol(cal): out.append(f'{cal / mass:.2f} kcal/g')
    if fat + carb + prot > mass + tol(mass): out.append(f'{fat + carb + prot:.1f} g of macronutrients in {mass:.1f} g')
    if not band[0] * a - tol(a) <= cal <= band[1] * a + tol(a):
        out.append(f'energy {cal:.1f} is {cal / max(a, 1e-9):.2f}x Atwater')
    return out


@pytest.mark.parametrize('mass_g', [None, 350., 900.])
def test_every_value_can_exist(run, predictor, inputs, answers, n5k_root, mass_g):
    "For the test split, the non-food, odd and blank sets, with and without a known mass: values a plate can have."
    band = run.model_config().atwater_band
    assert band == pytest.approx(atwater_band(read_all_metadata(n5k_root)))     # the tolerance measured on the labels
    for name, srcs in inputs.items():
        for src, pred in zip(srcs, _predicted(answers, name)):
            if mass_g is not None: pred = predictor.with_mass(pred, mass_g)
            assert not _impossible(pred, band), (name, str(src)[:80], _impossible(pred, band))


def test_ranges_hold_for_the_largest_plates(run, dishes):
    "Recomputed from the saved out-of-fold predictions: 85-95% over all, and at least 85% on the largest third of dishes."
    oof = pd.read_csv(run.cv_predictions_file, index_col='dish_id')
    cov = cross_conformal_coverage(oof, dishes, run.params().interval_coverage)
    for t, c in cov['coverage'].items(): assert 0.85 <= c <= 0.95, (t, c)
    for t in ('calories', 'mass'): assert cov['by_size'][t][2] >= 0.85, (t, dict(zip(SIZES, cov['by_size'][t])))
    for t, thirds in run.metrics().coverage.by_size.items(): assert thirds == pytest.approx(cov['by_size'][t]), t
