"Without the dataset: a missing data folder says how to get one, and the whole run works on a synthetic folder."
import json, os, subprocess

from conftest import CLI, ROOT
from nutrition_predictor.runs import RunFolder
from nutrition_predictor.synthetic import synthetic_n5k
from nutrition_predictor.config import TrainConfig, config_dishes
from nutrition_predictor.data import dish_table


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
    n_backbones = len(run.params().backbone)
    # the guard's other-camera photos
    n_other = min(200, len(dish_table(root, view='overhead', camera='A', frame=2, max_kcal=3000.)))
    assert m.guard.n_other_view == n_other
    # by each backbone: every frame of a training dish, each test dish, and the other camera's photos the evaluation reads
    assert m.feature_counts['computed'] == n_backbones * (n_train_images + (dishes.split == 'test').sum() + n_other)
    assert run.missing() == [] and run.intervals_file.is_file() and run.cv_predictions_file.is_file()


def test_shipped_model_predicts_and_serves_without_data(tmp_path):
    "Right after install, with no dataset and no run folder: `predict` and `serve` use the model shipped with the package."
    import httpx, socket, time
    from nutrition_predictor.runs import pretrained_run
    photos = sorted(str(p) for p in (pretrained_run().path/'examples').glob('*.jpg'))
    assert len(photos) >= 3 and (pretrained_run().path/'examples'/'CREDIT.md').is_file()
    r = subprocess.run([CLI, 'predict', *photos, '--json'], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=_env())
    assert r.returncode == 0, r.stderr[-2000:]
    answers = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(answers) == len(photos) and all(a['calories_kcal'] > 0 and a['unlike_training'] is False for a in answers)
    r = subprocess.run([CLI, 'predict', photos[0], '--mass-g', '300', '--json'], capture_output=True, text=True,
                       timeout=300, cwd=tmp_path, env=_env())
    assert r.returncode == 0 and json.loads(r.stdout)['mass_g'] == 300 and json.loads(r.stdout)['mass_known'] is True
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    server = subprocess.Popen([CLI, 'serve', '--port', str(port)], cwd=tmp_path, env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try: health = httpx.get(f'http://127.0.0.1:{port}/health').json(); break
            except httpx.TransportError: time.sleep(0.2)
        else: raise AssertionError(server.stderr.read().decode()[-2000:])
        assert health['run'] == str(pretrained_run().path) and health['view'] == 'side'
        r = httpx.post(f'http://127.0.0.1:{port}/v1/predict', files={'file': ('plate.jpg', open(photos[0], 'rb').read())},
                       data={'mass_g': '300'}, timeout=120)
        assert r.status_code == 200 and r.json()[0]['mass_g'] == 300 and r.json()[0]['calories_kcal'] > 0
    finally: server.terminate(); server.wait(30)
