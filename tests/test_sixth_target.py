"""A nutrient added is a change to `TARGETS` (with its unit) and the label reader only: a copy of the package with a sixth
total, fibre, trains on a synthetic folder whose labels carry it, predicts it (per gram too, and times a weighed mass),
serves it through the validated response model, and the demo shows it (issue 28, item 2). The ingredient table has no
fibre per gram, so its total is the direct prediction where totals are composed from ingredients."""
import json, os, shutil, subprocess, sys, textwrap

from conftest import ROOT

EDITS = [("TARGETS = ['calories', 'mass', 'fat', 'carb', 'protein']",
          "TARGETS = ['calories', 'mass', 'fat', 'carb', 'protein', 'fiber']"),
         ("UNITS = dict(calories='kcal', mass='g', fat='g', carb='g', protein='g')",
          "UNITS = dict(calories='kcal', mass='g', fat='g', carb='g', protein='g', fiber='g')"),
         # the label reader: a line's first fields
         ("DISH_FIELDS = ('dish_id', 'calories', 'mass', 'fat', 'carb', 'protein')",
          "DISH_FIELDS = ('dish_id', 'calories', 'mass', 'fat', 'carb', 'protein', 'fiber')")]

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from nutrition_predictor.data import TARGETS
    from nutrition_predictor.synthetic import synthetic_n5k
    from nutrition_predictor.config import config_dishes, read_params
    from nutrition_predictor.experiment import fit_run
    from nutrition_predictor.predict import Predictor
    from nutrition_predictor.serve import create_app
    from nutrition_predictor.demo import result_chart, result_markdown
    from fastapi.testclient import TestClient
    assert TARGETS[-1] == 'fiber'
    tmp = Path(sys.argv[1])
    root = synthetic_n5k(tmp/'n5k')
    for f in ('metadata/dish_metadata_cafe1.csv', 'metadata/dish_metadata_cafe2.csv'):  # each label: fibre after the five totals
        rows = [l.split(',') for l in (root/f).read_text().splitlines()]
        # fibre: 5% of the carbs
        (root/f).write_text(''.join(','.join([*r[:6], f'{0.05 * float(r[4]):.3f}', *r[6:]]) + '\\n' for r in rows))
    cfg = read_params(sys.argv[2], dict(data_dir=str(root), img_size=64, epochs=2, bs=4, cv_folds=2, wandb='disabled',
                                        backbone=['efficientnet_lite0'], cache_dir=str(tmp/'cache'), ingredient_min_dishes=3))
    m = fit_run(cfg, tmp/'run', device='cpu')
    p = Predictor.from_run(tmp/'run', device='cpu')
    photo = Path(config_dishes(cfg).query("split == 'train'").image.iloc[0])
    pred, weighed = p.predict(photo), p.predict(photo, mass_g=400)
    served = TestClient(create_app(p)).post('/v1/predict', files={'file': ('plate.jpg', photo.read_bytes())})
    schema = TestClient(create_app(p)).get('/openapi.json').json()['components']['schemas']['Prediction']['properties']
    print(json.dumps(dict(cv=m.cv.mae, composed=m.composed_cv.mae, label=float(config_dishes(cfg).fiber.mean()),
                          answer=pred.to_dict(), weighed=weighed.to_dict(),
                          status=served.status_code, served=served.json()[0], schema=sorted(schema),
                          page=result_markdown(pred, p.typical()), chart=result_chart(pred, p.typical()))))
    """)


def test_a_sixth_target_needs_only_targets_and_the_label_reader(tmp_path):
    pkg = tmp_path/'pkg'/'nutrition_predictor'
    shutil.copytree(ROOT/'nutrition_predictor', pkg, ignore=shutil.ignore_patterns('pretrained', '__pycache__'))
    data = pkg/'data.py'
    text = data.read_text()
    for old, new in EDITS:
        assert text.count(old) == 1, old                  # the lines this test edits are where a person would edit them
        text = text.replace(old, new)
    data.write_text(text)
    env = {**os.environ, 'PYTHONPATH': str(tmp_path/'pkg'), 'WANDB_MODE': 'disabled'}
    r = subprocess.run([sys.executable, '-c', SCRIPT, str(tmp_path/'work'), str(ROOT/'params/offline.yaml')], capture_output=True,
                       text=True, timeout=900, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.splitlines()[-1])
    assert got['label'] > 0 and got['cv']['fiber'] > 0                                  # learnt from the labels, scored in CV
    # the ingredient table has no fibre: not composed
    assert abs(got['composed']['fiber'] - got['cv']['fiber']) < 1e-9
    answer = got['answer']
    assert {'fiber_g', 'fiber_g_low', 'fiber_g_high', 'fiber_per_g'} <= set(answer) and answer['fiber_g'] >= 0
    # density x mass
    assert abs(got['weighed']['fiber_g'] - 400 * got['weighed']['fiber_per_g']) <= 0.05 + 1e-3 * got['weighed']['fiber_g']
    # the validated schema has it
    assert got['status'] == 200 and {'fiber_g', 'fiber_g_low', 'fiber_per_g'} <= set(got['schema'])
    assert got['served']['fiber_g'] == answer['fiber_g']
    assert '**Fiber**' in got['page'] and '>Fiber</text>' in got['chart']
