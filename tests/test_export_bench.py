"ONNX export through the CLI (outputs match torch), and the benchmark suite as a quick smoke run."
import json, shutil, subprocess
from pathlib import Path

import numpy as np
from conftest import CLI, ROOT
from nutrition_predictor.plate import FIELDS
from nutrition_predictor.predict import Predictor


def test_export_onnx_and_predict_with_onnxruntime(offline_run, test_images, tmp_path):
    run = tmp_path/'run'
    shutil.copytree(offline_run, run, ignore=shutil.ignore_patterns('wandb', '*.ipynb'))
    (run/'model.onnx').unlink(missing_ok=True)
    r = subprocess.run([CLI, 'predict', test_images[0], '--run', str(run), '--engine', 'onnx'], capture_output=True, text=True)
    assert r.returncode == 1 and 'nutrition-predictor export --onnx' in r.stderr     # says how to make one
    r = subprocess.run([CLI, 'export', '--onnx', '--run', str(run)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (run/'model.onnx').stat().st_size > 1e6
    outs, some = {}, test_images[:10] + test_images[-2:]             # ten photos the guard passes, the two it doubts most
    for engine in ('torch', 'onnx'):
        r = subprocess.run([CLI, 'predict', *some, '--run', str(run), '--engine', engine, '--json'],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        outs[engine] = np.array([[json.loads(l)[f] for f in FIELDS] for l in r.stdout.splitlines()])
    assert outs['onnx'].shape == (len(some), 5)
    assert (np.abs(outs['onnx'] - outs['torch']) <= 1e-3 * np.abs(outs['torch'])).all()
    direct = Predictor.from_run(run, engine='onnx').predict(test_images[3])
    # the CLI's JSON is rounded as `to_dict`
    assert np.allclose([direct.to_dict()[f] for f in FIELDS], outs['onnx'][3], rtol=1e-4)


EXAMPLES = sorted((ROOT/'nutrition_predictor/pretrained/examples').glob('*.jpg'))


def test_the_shipped_onnx_file_is_the_shipped_model():
    """The package's model.onnx (what `engine='auto'` runs) gives the shipped state dict's numbers on torch, and is part
    of its sealed run."""
    onnx, torch = Predictor.from_run(), Predictor.from_run(engine='torch')
    assert (onnx.engine, torch.engine) == ('onnx', 'torch') and onnx.run.problems() == []
    got, ref = (np.array([p.values() for p in e.predict_batch(EXAMPLES)]) for e in (onnx, torch))
    assert len(EXAMPLES) == 3 and (np.abs(got - ref) <= 1e-3 * np.abs(ref)).all(), np.abs(got - ref).max()
    r = subprocess.run([CLI, 'export', '--onnx'], capture_output=True, text=True)     # the shipped model is not rewritten
    assert r.returncode == 1 and 'comes with its ONNX file' in r.stderr and 'Traceback' not in r.stderr, r.stderr


def test_bench_quick_smoke(n5k_root, output_dir):
    "The whole suite on a few images, one repetition: it runs and writes its JSON; the numbers mean nothing."
    out = output_dir/'bench'
    r = subprocess.run([CLI, 'bench', str(ROOT/'params/offline.yaml'), '--quick', '-p', 'img_size', '96', '--out', str(out)],
                       capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    path = Path(r.stdout.strip().splitlines()[-1].removeprefix('Results written to '))
    assert path.parent == out
    res = json.loads(path.read_text())
    n = 12 * len(res['config']['backbone'])                                     # 12 dishes, each through every backbone
    n_train = res['training']['n_train'] * len(res['config']['backbone'])       # training reads its training dishes' only
    assert res['quick'] and res['training']['cached']['feature_counts'] == {'computed': 0, 'loaded': n_train}
    assert res['training']['cache_build']['counts'] == {'computed': n, 'loaded': 0} and n_train < n
    assert res['inference']['onnx_max_rel_diff'] < 1e-3
    assert res['flops']['backbone_gflop_per_image'] > 0 and res['flops']['matmul_gflops'] > 0
    assert 'batch vs loop' in r.stdout and 'backbone / matmul' in r.stdout
