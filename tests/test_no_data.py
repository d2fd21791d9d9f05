"Without the dataset: a missing data folder says how to get one, and the whole run works on a synthetic folder."
import os, subprocess

from conftest import CLI, ROOT
from nutrition_predictor.runs import RunFolder
from nutrition_predictor.synthetic import synthetic_n5k
from nutrition_predictor.train import TrainConfig, config_dishes


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if k != 'NUTRITION5K_DIR'}
    return {**env, 'WANDB_MODE': 'disabled', **kw}


def test_missing_data_folder_says_how_to_get_it(tmp_path):
    r = subprocess.run([CLI, 'train', str(ROOT/'params/offline.yaml'), '--out', str(tmp_path/'run')], capture_output=True,
                       text=True, timeout=600, cwd=tmp_path, env=_env())
    assert r.returncode != 0
    assert 'No Nutrition5k data at' in r.stderr and 'nutrition-predictor download' in r.stderr and 'NUTRITION5K_DIR' in r.stderr


def test_side_view_run_on_a_synthetic_folder(tmp_path):
    "The offline params, shrunk, on a synthetic folder in the official layout: a complete run folder with the folder's counts."
    root = synthetic_n5k(tmp_path/'n5k')
    out = tmp_path/'run'
    opts = ['-p', 'data_dir', str(root), '-p', 'img_size', '64', '-p', 'epochs', '3', '-p', 'bs', '4', '-p', 'cv_folds', '2',
            '-p', 'cache_dir', str(tmp_path/'cache'), '-p', 'tta_views', 'true', '-p', 'all_frames', 'true']
    r = subprocess.run([CLI, 'train', str(ROOT/'params/offline.yaml'), *opts, '--out', str(out)], capture_output=True,
                       text=True, timeout=900, cwd=tmp_path, env=_env())
    assert r.returncode == 0, r.stderr[-3000:]
    run = RunFolder(out)
    m = run.metrics()
    dishes = config_dishes(TrainConfig(data_dir=str(root), view='side', frame=2))
    assert (m.view, m.n_train, m.test.n_dishes) == ('side', (dishes.split == 'train').sum(), (dishes.split == 'test').sum())
    n_multi = int((dishes[dishes.split == 'test'].images.map(len) > 1).sum())
    assert m.tta['n_dishes'] == n_multi
    n_train_images = dishes[dishes.split == 'train'].images.map(len).sum()
    assert m.feature_counts['computed'] == n_train_images + (dishes.split == 'test').sum()   # every frame of a training dish
    assert run.missing() == [] and run.intervals_file.is_file() and run.cv_predictions_file.is_file()
