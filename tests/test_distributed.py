"""Training that scales out: `train --processes 2` (two CPU processes, gloo) on a synthetic folder trains as well as one
process, each feature computed once."""
import os, subprocess

import pytest

from conftest import CLI, ROOT
from nutrition_predictor.runs import RunFolder
from nutrition_predictor.synthetic import synthetic_n5k


def test_two_processes_match_one(tmp_path):
    root = synthetic_n5k(tmp_path/'n5k')
    env = {**{k: v for k, v in os.environ.items() if k != 'NUTRITION5K_DIR'}, 'WANDB_MODE': 'disabled'}
    runs = {}
    for n in (1, 2):
        opts = ['-p', 'data_dir', str(root), '-p', 'img_size', '64', '-p', 'epochs', '3', '-p', 'bs', '4', '-p', 'cv_folds', '2',
                '-p', 'cache_dir', str(tmp_path/f'cache{n}')]
        r = subprocess.run([CLI, 'train', str(ROOT/'params/offline.yaml'), *opts, '--processes', str(n), '--out',
                            str(tmp_path/f'run{n}')],
                           capture_output=True, text=True, timeout=1200, cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        run = RunFolder(tmp_path/f'run{n}')
        assert run.problems() == [] and run.intervals_file.is_file() and run.guard_file.is_file()
        runs[n] = run.metrics()
    one, two = runs[1], runs[2]
    assert two.feature_counts['computed'] == one.feature_counts['computed']      # each feature once, over both processes
    # The same training, but not bit for bit: on CPUs each process normalises its own half of each batch (SyncBatchNorm
    # needs CUDA), so two processes land near one. Compared in grouped CV over every dish: the synthetic folder's official
    # test split has a handful of dishes (3), where one dish moves MAE% by tens of points (measured: 89% against 54%,
    # each run deterministic, while CV agreed within 3%).
    assert one.test.n_dishes < 10 <= one.cv.n_dishes
    for t in ('calories', 'mass'):
        assert two.cv.mae_pct[t] == pytest.approx(one.cv.mae_pct[t], rel=0.25), t
        assert two.cv.vs_baseline[t] < 1 and one.cv.vs_baseline[t] < 1, t          # both learned: each beats the mean in CV
