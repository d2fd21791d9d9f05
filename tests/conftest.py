import contextlib, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _data_dir() -> Path|None:
    "The Nutrition5k folder the package finds (`n5k_dir`: `NUTRITION5K_DIR`, else data/nutrition5k of the checkout), if any."
    from nutrition_predictor.data import is_nutrition5k, n5k_dir
    root = n5k_dir()
    return root.resolve() if is_nutrition5k(root) else None

DATA = _data_dir()
if DATA: os.environ['NUTRITION5K_DIR'] = str(DATA)      # the commands the tests start, from any folder, read the same data
NO_DATA = ("no Nutrition5k data: set NUTRITION5K_DIR to a Nutrition5k folder, or put one in data/nutrition5k at the "
           "project root (`nutrition-predictor download`)")


@pytest.fixture(scope='session')
def n5k_root() -> Path:
    "The real Nutrition5k folder (sample or full) the package finds; the test is skipped, saying why, without one."
    if DATA is None: pytest.skip(NO_DATA)
    return DATA


def _dish_line(dish_id, kcal, mass, ingredients=1):
    ingr = ',ingr_0000000001,rice,10.0,13.0,0.1,2.8,0.3' * ingredients
    return f'{dish_id},{kcal},{mass},5.0,20.0,8.0{ingr}'


@pytest.fixture
def synthetic_n5k(tmp_path) -> Path:
    "A tiny Nutrition5k folder in the official layout: 6 dishes, synthetic images, no real data."
    root = tmp_path/'n5k'
    ids = [f'dish_{1500000000 + i*1000}' for i in range(6)]
    (root/'metadata').mkdir(parents=True)
    (root/'metadata/dish_metadata_cafe1.csv').write_text(
        '\n'.join(_dish_line(d, 100 + 50*i, 80 + 30*i, 1 + i % 3) for i, d in enumerate(ids)) + '\n')
    (root/'metadata/dish_metadata_cafe2.csv').write_text(_dish_line('dish_1600000000', 200, 150) + '\n')
    (root/'dish_ids/splits').mkdir(parents=True)
    (root/'dish_ids/splits/rgb_train_ids.txt').write_text('\n'.join(ids[:4]) + '\n')
    (root/'dish_ids/splits/rgb_test_ids.txt').write_text('\n'.join(ids[4:]) + '\n')
    rng = np.random.default_rng(0)
    for d in ids:
        (root/'imagery/realsense_overhead'/d).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(root/'imagery/realsense_overhead'/d/'rgb.png')
    return root


ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent/'nutrition-predictor')   # the console script of this environment


@pytest.fixture(scope='session')
def output_dir() -> Path:
    "Where tests leave what people look at afterwards (screenshots, benchmark numbers): `$TEST_OUTPUT_DIR` or `test-output/`."
    d = Path(os.environ.get('TEST_OUTPUT_DIR', ROOT/'test-output'))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope='session')
def offline_run(n5k_root, tmp_path_factory) -> Path:
    "A real run of `params/offline.yaml` through the CLI (train + evaluate + save), shared by the tests that need a model."
    if os.environ.get('NP_TEST_RUN'): return Path(os.environ['NP_TEST_RUN'])   # developers: reuse a finished run
    out = tmp_path_factory.mktemp('runs')/'offline'
    r = subprocess.run([CLI, 'train', str(ROOT/'params/offline.yaml'), '--out', str(out)],
                       capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    (out.parent/'train.stdout').write_text(r.stdout); (out.parent/'train.stderr').write_text(r.stderr)
    return out


@pytest.fixture(scope='session')
def test_images(n5k_root, offline_run) -> list:
    """The images of the official test split, in the view, camera and frame of `params/offline.yaml`; those the run's guard
    passes come first, so a test that reads the ranges of `test_images[0]` starts from a plate the model vouches for."""
    from nutrition_predictor.config import config_dishes, read_params
    from nutrition_predictor.predict import Predictor
    t = config_dishes(read_params(ROOT/'params/offline.yaml', {'data_dir': str(n5k_root)}))
    images = [str(p) for p in t.image[t.split == 'test']]
    flagged = {i for i, p in zip(images, Predictor.from_run(offline_run).predict_batch(images)) if p.unlike_training}
    return [i for i in images if i not in flagged] + [i for i in images if i in flagged]


def approx_values(d:dict, rel:float=1e-4, abs:float=1e-4) -> dict:
    """`d` with each number wrapped in `pytest.approx`: compare a prediction's dict where the other fields (reason,
    flags) must be equal."""
    return {k: pytest.approx(v, rel=rel, abs=abs) if isinstance(v, float) else v for k, v in d.items()}


@contextlib.contextmanager
def loopback_server(app):
    "Serve the ASGI `app` with uvicorn on a free loopback port, in a thread: yields its base URL; stopped on exit."
    import threading, time
    import uvicorn
    server = uvicorn.Server(uvicorn.Config(app, host='127.0.0.1', port=0, log_level='warning'))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started: time.sleep(0.05)
    try: yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
