"""What is on the plate, end to end on the offline run: a person's corrections move the totals by exactly the nutrient
table's values (read here from `ingredients_metadata.csv` itself), in the library, the REST API and the demo; a portion
scales everything; energy comes in kJ too; whatever is asked, no value goes below 0 and the macronutrients never
outweigh the plate; bad corrections are refused in one line that names them. The head's grouped-CV scores are
recomputed from the run's saved out-of-fold predictions."""
import csv, math

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from nutrition_predictor.data import PER_GRAM_OF, TARGETS, ingredient_grams, read_all_ingredients
from nutrition_predictor.plate import KJ_PER_KCAL, CorrectionError, NutritionPrediction
from nutrition_predictor.predict import Predictor

TOTAL = {t: TARGETS.index(t) for t in TARGETS}


@pytest.fixture(scope='module')
def csv_per_gram(n5k_root) -> dict:
    "Ingredient id -> kcal, fat, carb and protein per gram, read straight from the release's `ingredients_metadata.csv`."
    with open(n5k_root/'metadata/ingredients_metadata.csv') as f:
        return {f"ingr_{int(r['id']):010d}": [float(r[k]) for k in ('cal/g', 'fat(g)', 'carb(g)',
                'protein(g)')] for r in csv.DictReader(f)}


@pytest.fixture(scope='module')
def predictor(offline_run): return Predictor.from_run(offline_run)


@pytest.fixture(scope='module')
def plate(predictor, test_images):
    "A test photo the guard passes whose answer lists at least two ingredients."
    for path in test_images:
        pred = predictor.predict(path)
        if not pred.unlike_training and len(pred.ingredients) >= 2: return path, pred
    pytest.fail('no test photo has two likely ingredients')


def _moved(before, after) -> np.ndarray: return np.subtract(before, after)


def test_removing_an_ingredient_lowers_the_totals_by_the_table(predictor, plate, csv_per_gram):
    _, pred = plate
    for line in pred.ingredients:
        fixed = predictor.correct(pred, [(line.ingr_id, 0)])
        g, per_gram = line.grams, csv_per_gram[line.ingr_id]
        drop = _moved(pred.totals, fixed.totals)
        assert drop[TOTAL['mass']] == pytest.approx(g, rel=1e-9)
        for t, v in zip(PER_GRAM_OF, per_gram): assert drop[TOTAL[t]] == pytest.approx(g * v, rel=1e-9, abs=1e-9), t
        assert np.allclose(_moved(pred.low, fixed.low), drop) and np.allclose(_moved(pred.high, fixed.high), drop)
        assert line.ingr_id not in {i.ingr_id for i in fixed.ingredients} and fixed.corrected


def test_changing_and_adding_move_the_totals_by_the_table(predictor, plate, csv_per_gram):
    _, pred = plate
    first = pred.ingredients[0]
    added = next(i for i in csv_per_gram if i not in {line.ingr_id for line in pred.ingredients} and csv_per_gram[i][0] > 0)
    fixed = predictor.correct(pred, [(first.ingr_id, first.grams + 40), (added, 12)])
    expect = np.zeros(len(TARGETS))
    expect[TOTAL['mass']] = 52
    for t, a, b in zip(PER_GRAM_OF, csv_per_gram[first.ingr_id], csv_per_gram[added]): expect[TOTAL[t]] = 40 * a + 12 * b
    assert np.allclose(_moved(fixed.totals, pred.totals), expect, rtol=1e-9, atol=1e-9)


def test_a_portion_scales_totals_ranges_and_grams(predictor, plate):
    _, pred = plate
    half = predictor.correct(pred, portion=0.5)
    assert np.allclose(half.totals, np.multiply(pred.totals, 0.5)) and np.allclose(half.low, np.multiply(pred.low, 0.5))
    assert np.allclose(half.high, np.multiply(pred.high, 0.5))
    assert [i.grams for i in half.ingredients] == pytest.approx([i.grams / 2 for i in pred.ingredients])
    assert half.portion == 0.5 and half.per_gram == pred.per_gram          # the plate's densities do not change


def test_energy_in_kilojoules(plate):
    _, pred = plate
    d = pred.to_dict()
    assert KJ_PER_KCAL == 4.184
    assert d['energy_kj'] == pytest.approx(4.184 * pred.calories_kcal, abs=0.051)
    assert d['energy_kj_low'] == pytest.approx(4.184 * pred.low[0], abs=0.051)
    for i in d['ingredients']: assert i['energy_kj'] == pytest.approx(4.184 * i['calories_kcal'], abs=0.3)


def test_no_correction_makes_an_impossible_plate(predictor, plate, csv_per_gram):
    """Random corrections (removals, heavy and light weights, additions) and portions: never below 0, macronutrients
    never above the mass."""
    _, pred = plate
    rng, ids = np.random.default_rng(0), list(csv_per_gram)
    for _ in range(300):
        changes = [(i.ingr_id, float(rng.choice([0, rng.uniform(0, 3000)]))) for i in pred.ingredients if rng.random() < 0.7]
        changes += [(str(i), float(rng.uniform(0, 500))) for i in rng.choice(ids, rng.integers(0, 3), replace=False)
                    if i not in {c[0] for c in changes}]
        fixed = predictor.correct(pred, changes, float(rng.uniform(0.05, 1)))
        v = dict(zip(TARGETS, fixed.totals))
        assert min(fixed.totals) >= 0 and min(fixed.low) >= 0
        assert v['fat'] + v['carb'] + v['protein'] <= v['mass'] * (1 + 1e-9) + 1e-9
        assert v['calories'] <= 9 * v['mass'] * (1 + 1e-9) + 1e-9
        assert all(lo <= x <= hi for lo, x, hi in zip(fixed.low, fixed.totals, fixed.high))


@pytest.mark.parametrize('change,says', [(('ingr_9999999999', 10), "unknown ingredient 'ingr_9999999999'"),
                                         (('FIRST', -5), '(FIRST) must be from 0'),
                                         (('FIRST', 'lots'), '(FIRST) must be from 0')])
def test_bad_corrections_are_refused_in_one_line(predictor, plate, change, says):
    _, pred = plate
    first = pred.ingredients[0].ingr_id
    with pytest.raises(CorrectionError) as e: predictor.correct(pred, [tuple(first if x == 'FIRST' else x for x in change)])
    msg = str(e.value)
    assert says.replace('FIRST', first) in msg and '\n' not in msg, msg


def test_the_api_corrects_as_the_library(predictor, plate, csv_per_gram):
    from nutrition_predictor.serve import create_app
    path, _ = plate
    with TestClient(create_app(predictor)) as client:
        answer = client.post('/v1/predict', files={'file': ('plate.jpg', open(path, 'rb').read())}).json()[0]
        first = answer['ingredients'][0]
        r = client.post('/v1/correct', json=dict(prediction=answer, corrections=[dict(ingr_id=first['ingr_id'], grams=0)]))
        assert r.status_code == 200, r.text
        fixed = r.json()
        assert fixed['file'] == 'plate.jpg' and fixed['corrected'] and first['ingr_id'] not in {i['ingr_id']
                for i in fixed['ingredients']}
        per_gram = csv_per_gram[first['ingr_id']]
        assert answer['calories_kcal'] - fixed['calories_kcal'] == pytest.approx(first['grams'] * per_gram[0], abs=0.11)
        assert answer['fat_g'] - fixed['fat_g'] == pytest.approx(first['grams'] * per_gram[1], abs=0.11)
        assert answer['mass_g'] - fixed['mass_g'] == pytest.approx(first['grams'], abs=0.11)
        library = predictor.correct(NutritionPrediction.from_dict(answer, predictor.nutrients), [(first['ingr_id'], 0)])
        # the library's arithmetic, exactly
        assert {k: v for k, v in fixed.items() if k not in ('file', 'model_warning')} == library.to_dict()
        half = client.post('/v1/correct', json=dict(prediction=answer, portion=0.5)).json()
        assert half['calories_kcal'] == pytest.approx(answer['calories_kcal'] / 2, abs=0.06)
        assert half['calories_kcal_high'] == pytest.approx(answer['calories_kcal_high'] / 2, abs=0.06)
        for bad, says in ((dict(ingr_id='ingr_9999999999', grams=5), 'ingr_9999999999'),
                          (dict(ingr_id=first['ingr_id'], grams=-5), first['ingr_id'])):
            r = client.post('/v1/correct', json=dict(prediction=answer, corrections=[bad]))
            assert r.status_code == 422 and says in r.json()['error'] and '\n' not in r.json()['error'], r.text
        r = client.post('/v1/correct', json=dict(prediction=answer, portion=0))
        assert r.status_code == 422 and 'portion' in r.json()['error']
        rice = client.get('/v1/ingredients', params=dict(q='rice')).json()
        assert rice and all('rice' in i['name'] for i in rice)
        assert rice[0]['calories_per_g'] == pytest.approx(csv_per_gram[rice[0]['ingr_id']][0])


def test_the_demo_corrects_as_the_library(predictor, plate):
    from nutrition_predictor.demo import correct_fn, plate_rows
    _, pred = plate
    answer = pred.to_dict()
    rows = plate_rows(NutritionPrediction.from_dict(answer, predictor.nutrients))
    rows[0][0], rows[1][2] = False, 77.0                                     # untick the first, 77 g of the second
    values, table, _ = correct_fn(predictor, predictor.typical(), None)(answer, rows, 1, 'kcal')
    ids = [i.ingr_id for i in pred.ingredients]
    library = predictor.correct(NutritionPrediction.from_dict(answer, predictor.nutrients), [(ids[0], 0), (ids[1], 77.0)])
    assert values == library.to_dict() and values['corrected']
    assert f"**{library.calories_kcal:.0f} kcal**" in table and 'Corrected by you' in table
    kj_values, kj_table, _ = correct_fn(predictor, predictor.typical(), None)(answer, rows, 0.5, 'kJ')
    assert kj_values['calories_kcal'] == pytest.approx(values['calories_kcal'] / 2, abs=0.06) and ' kJ**' in kj_table


def test_the_head_scores_recomputed_from_the_saved_predictions(offline_run, n5k_root):
    """The acceptance numbers, from `cv_predictions.csv` rather than `metrics.json`: median ROC AUC over the ingredients on
    at least 40 dishes, expected calibration error, and the list's cross-fitted precision; and metrics.json agrees."""
    from sklearn.metrics import roc_auc_score
    from nutrition_predictor.ingredients import COMMON_DISHES, ingredient_outputs
    from nutrition_predictor.runs import RunFolder
    run = RunFolder(offline_run)
    oof = pd.read_csv(run.cv_predictions_file, index_col='dish_id')
    likely, m = run.likely_ingredients(), run.metrics()
    vocab = likely.vocabulary
    prob, _ = ingredient_outputs(oof, vocab)
    there = ingredient_grams(read_all_ingredients(n5k_root), oof.index, vocab[:-1]).to_numpy() > 0
    common = [j for j in range(len(vocab) - 1) if there[:, j].sum() >= COMMON_DISHES]
    auc = float(np.median([roc_auc_score(there[:, j], prob[:, j]) for j in common]))
    bins = np.minimum((prob * 10).astype(int), 9)                           # ten equal-width bins, written out here
    ece = sum(abs(prob[bins == k].mean() - there[bins == k].mean()) * (bins == k).mean() for k in range(10) if (bins == k).any())
    eligible = np.array([i in set(likely.shown) for i in vocab])
    folds, on, listed_any = oof.fold.to_numpy(), there & eligible, np.zeros(there.shape, bool)
    # each fold's list at the threshold the other folds pick
    for f in np.unique(folds):
        other = folds != f
        precise = [t for t in np.round(np.arange(0.05, 0.96, 0.01), 2)
                   if (((prob[other] >= t) & eligible) & there[other]).sum() >= m.params.shown_precision * max(1,
                           ((prob[other] >= t) & eligible).sum())]
        listed_any[~other] = (prob[~other] >= (precise[0] if precise else 0.95)) & eligible
    listed = dict(precision=(listed_any & on).sum() / listed_any.sum(), recall=(listed_any & on).sum() / on.sum())
    assert auc >= 0.85 and ece <= 0.05 and listed['precision'] >= 0.6, (auc, ece, listed)
    assert listed['recall'] > 0.1
    s = m.ingredients_cv
    assert (s.median_auc, s.ece, s.precision, s.recall) == pytest.approx((auc, ece, listed['precision'], listed['recall']))
    assert not math.isnan(m.ingredients_test.precision) and m.ingredients_test.n_dishes == m.test.n_dishes
