"""Give a finished run made before `drift.npz` existed its drift reference, as `train` now makes it (`experiment.fit_guard`,
which fits the guard and the drift reference together), without training again: the reference is calibrated on the
run's own training photos (their features from the feature cache, or the backbones), the guard fitted beside it must be
the run's own, its reports on the test split and the other view are added to `metrics.json`'s guard section, the model
card is made again and the run is sealed again. The model's files are not touched.

    python tools/add_drift_reference.py [RUN]     # default: the model shipped with the package
"""
import sys
from dataclasses import replace

import numpy as np

from nutrition_predictor.card import write_card
from nutrition_predictor.config import config_dishes
from nutrition_predictor.experiment import fit_guard
from nutrition_predictor.model import load_model
from nutrition_predictor.runs import as_run

def main(run=None):
    run = as_run(run).check()
    cfg, model = run.params(), load_model(run, 'cpu')
    dishes = config_dishes(cfg)
    guard, drift, fitted = fit_guard(model, dishes[dishes.split == 'train'], dishes[dishes.split == 'test'], cfg, 'cpu')
    if not np.isclose(guard.threshold, run.guard().threshold):
        sys.exit(f"{run.path}: the guard fitted now is not the run's (other data?)")
    scores = {k: getattr(fitted, k) for k in ('drift_window', 'drift_threshold', 'drift_test', 'drift_other_view')}
    if drift is None: sys.exit(f"{run.path}: too few training dishes to calibrate a drift reference")
    drift.save(run.drift_file)
    m = run.metrics()
    run.write_metrics(replace(m, guard=replace(m.guard, **scores)))
    if run.card_file.is_file(): write_card(run)
    run.seal()
    t, o = scores['drift_test'], scores['drift_other_view'] or {}
    print(f"{run.drift_file}: window {drift.window}, threshold {drift.threshold:.4f}; test split "
          f"{t['windows_drifted']}/{t['n_windows']} "
          f"windows drifted; other view {o.get('windows_drifted')}/{o.get('n_windows')}")

if __name__ == '__main__': main(*sys.argv[1:2])
