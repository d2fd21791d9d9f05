"""A small sweep through the CLI: two runs and the leaderboard; a leaderboard row reproduces its metrics from its
recorded config, on a `download --source DIR` copy of the data."""
import subprocess
from dataclasses import replace

import pandas as pd
import pytest
import yaml

from conftest import CLI, ROOT
from nutrition_predictor.runs import RunFolder


@pytest.fixture(scope='module')
def sweep_runs(n5k_root, tmp_path_factory):
    d = tmp_path_factory.mktemp('sweep')
    spec = dict(base=str(ROOT/'params/offline.yaml'),
                # Small runs: the sweep's mechanics are tested here, not the model (one backbone, no ingredient head, two folds).
                # The default feature cache: its lite0 vectors of these photos are the offline run's (`offline_run`,
                # when it ran first).
                params=dict(backbone=['efficientnet_lite0'], epochs=4, feature_cache=True, cv_folds=2, ingredient_min_dishes=0),
                grid=dict(hidden=[32, 64]))
    (d/'tiny.yaml').write_text(yaml.safe_dump(spec))
    r = subprocess.run([CLI, 'sweep', str(d/'tiny.yaml'), '--runs', str(d/'runs')], capture_output=True, text=True,
                       timeout=1800, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return d


def test_sweep_writes_runs_and_leaderboard(sweep_runs):
    runs = sweep_runs/'runs'
    assert sorted(p.name for p in runs.iterdir()) == ['leaderboard', 'tiny-hidden32', 'tiny-hidden64']
    for f in ['leaderboard.ipynb', 'leaderboard.csv', 'leaderboard.png', 'test_vs_cv.png']:
        assert (runs/'leaderboard'/f).stat().st_size > 0, f
    board = pd.read_csv(runs/'leaderboard/leaderboard.csv')
    assert len(board) == 2 and board['cv calories %'].is_monotonic_increasing
    for _, row in board.iterrows():
        run = RunFolder(runs/row.run)
        m = run.metrics()
        assert row['git_commit'] == m.git_commit and len(m.dataset_checksum) == 64
        assert row['cv calories %'] == pytest.approx(m.cv.mae_pct['calories'])
        assert run.missing() == [] and run.intervals_file.is_file() and run.cv_predictions_file.is_file()
        assert any((run.path/'wandb').iterdir())


def test_leaderboard_row_reproduces_on_a_copy(sweep_runs, n5k_root):
    """Install a copy of the data with `download --source DIR`, and rerun the best row from its recorded params.yaml on it,
    into a new folder: the very same metrics (the copy is read as the original, and the run reproduces)."""
    copy = sweep_runs/'copy'
    r = subprocess.run([CLI, 'download', '--source', str(n5k_root), '--dest', str(copy), '--views', 'overhead', 'side',
                        '--side-source', str(n5k_root)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    board = pd.read_csv(sweep_runs/'runs/leaderboard/leaderboard.csv')
    row = board.iloc[0]
    again = sweep_runs/'again'
    r = subprocess.run([CLI, 'train', str(RunFolder(row.path).params_file), '-p', 'data_dir', str(copy), '--out', str(again)],
                       capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    old, new = (RunFolder(p).metrics() for p in (sweep_runs/'runs'/row.run, again))
    assert new.test == old.test and new.cv == old.cv and new.coverage == old.coverage and new.n_train == old.n_train
    assert new.dataset_checksum == old.dataset_checksum == row['dataset_checksum']
    assert replace(new.params, data_dir=None) == replace(old.params, data_dir=None) and new.params.data_dir == str(copy)
    outside = 'not in the official rgb train/test split'            # the download fetches split dishes only
    assert {k: v for k, v in old.dropped.items() if k != outside} == {k: v for k, v in new.dropped.items() if k != outside}
    assert new.dropped[outside] == 0
