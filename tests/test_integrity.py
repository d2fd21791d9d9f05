"""Nothing half-done is taken for done: parameters checked before any work, run folders whole or visibly not (SIGKILL at
several points, two writers), a feature cache that cannot rot silently or race, a bad frame dropped by name. All on a
synthetic folder: no dataset needed."""
import multiprocessing as mp
import os, signal, subprocess, time
from pathlib import Path

import pytest

from conftest import CLI, ROOT
from nutrition_predictor.runs import RunFolder
from nutrition_predictor.synthetic import synthetic_n5k


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if k != 'NUTRITION5K_DIR'}
    return {**env, 'WANDB_MODE': 'disabled', **kw}


@pytest.fixture(scope='module')
def n5k(tmp_path_factory) -> Path: return synthetic_n5k(tmp_path_factory.mktemp('synthetic')/'n5k')


def _quick(n5k, cache, *more) -> list:
    "A small, fast run of the offline params on the synthetic folder."
    return [CLI, 'train', str(ROOT/'params/offline.yaml'), '-p', 'data_dir', str(n5k), '-p', 'img_size', '64', '-p',
            'epochs', '2',
            '-p', 'bs', '4', '-p', 'cv_folds', '2', '-p', 'cache_dir', str(cache), *more]


# Parameters checked for sense, before any work

LAUGHS = 'name: &a ["lol","lol","lol"]\n' + ''.join(f'l{i}: &b{i} [*{"b" + str(i - 1) if i else "a"}, '
                                                    f'*{"b" + str(i - 1) if i else "a"}]\n'
                                                  for i in range(40))

@pytest.mark.parametrize('case',
                         ['bs 1000000', 'name ../x', 'cv_folds 100000', 'epochs 1e12', 'laughs', 'python tag', 'base chain',
                                  'environ'])
def test_bad_parameters_stop_at_once_with_one_line(n5k, tmp_path, case):
    work = tmp_path/'work'; work.mkdir()
    opts = case.split() if case.count(' ') == 1 else []
    params = str(ROOT/'params/offline.yaml')
    if case == 'laughs': (tmp_path/'laughs.yaml').write_text(LAUGHS); params = str(tmp_path/'laughs.yaml')
    if case == 'python tag':
        (tmp_path/'tag.yaml').write_text('name: !!python/object/apply:os.system ["touch pwned"]\n')
        params = str(tmp_path/'tag.yaml')
    if case == 'base chain':
        for i in range(3000): (tmp_path/f'c{i}.yaml').write_text(f'base: c{i + 1}.yaml\n')
        params = str(tmp_path/'c0.yaml')
    if case == 'environ': params = '/proc/self/environ'
    t0 = time.perf_counter()
    r = subprocess.run([CLI, 'train', params, '-p', 'data_dir', str(n5k), *(['-p', *opts] if opts else [])],
                       capture_output=True, text=True,
                       timeout=120, cwd=work, env=_env())
    took = time.perf_counter() - t0
    errors = [l for l in r.stderr.splitlines() if l.startswith('error:')]
    assert r.returncode == 1 and len(errors) == 1 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert len(errors[0]) < 400 and took < 10, (errors[0][:500], took)
    assert list(work.iterdir()) == [] and not (ROOT/'x').exists()                  # no run folder, nothing written


# Run folders: whole or visibly not

def test_a_killed_rerun_never_mixes_two_runs(n5k, tmp_path):
    """A finished run; reruns into it killed at several points (one right after the new model is written): readers see
    the old run, whole."""
    out, cache = tmp_path/'run', tmp_path/'cache'
    r = subprocess.run([*_quick(n5k, cache), '--out', str(out)], capture_output=True, text=True, timeout=900,
                       cwd=tmp_path, env=_env())
    assert r.returncode == 0, r.stderr[-3000:]
    first = (out/'model.pth').read_bytes(), RunFolder(out).params()
    for when in ('model', 2, 6, 12):
        p = subprocess.Popen([*_quick(n5k, cache, '-p', 'epochs', '3'), '--out', str(out)], cwd=tmp_path, env=_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        while p.poll() is None and time.time() - t0 < 300:
            partials = list(tmp_path.glob('.run.partial-*'))
            if when == 'model' and partials and (partials[0]/'model.pth').is_file(): break
            if when != 'model' and time.time() - t0 > when: break
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL); p.wait()
        run = RunFolder(out)
        assert run.problems() == [] and (run.params(), (out/'model.pth').read_bytes()) == (first[1], first[0]), when
        for partial in tmp_path.glob('.run.partial-*'):                        # what the killed rerun left is refused
            assert RunFolder(partial).problems()
            r = subprocess.run([CLI, 'predict', str(next((n5k/'side_angle_images').rglob('*.jpeg'))), '--run', str(partial)],
                               capture_output=True, text=True, timeout=300, env=_env())
            assert r.returncode == 1 and 'is not a finished run' in r.stderr, r.stderr[-1000:]


def test_two_writers_of_one_run_folder(n5k, tmp_path):
    "Two `train` processes on one --out at once: the second is refused in one line; the folder is one whole run."
    out, cache = tmp_path/'run', tmp_path/'cache'
    a = subprocess.Popen([*_quick(n5k, cache), '--out', str(out)], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    while not list(tmp_path.glob('.run.partial-*')) and a.poll() is None: time.sleep(0.05)
    b = subprocess.run([*_quick(n5k, cache, '-p', 'epochs', '3'), '--out', str(out)], capture_output=True, text=True, timeout=600,
                       cwd=tmp_path, env=_env())
    assert b.returncode == 1 and 'being written by another process' in b.stderr, b.stderr[-2000:]
    assert a.wait(900) == 0, a.stderr.read()[-3000:]
    run = RunFolder(out)
    assert run.problems() == [] and run.params().epochs == 2


# The feature cache: no silent rot, no race

def _hammer(root, worker, n):
    "Save and load the same 20 entries `n` times; return the corrupt reads seen."
    import torch
    from nutrition_predictor.feature_cache import FeatureCache
    cache, bad = FeatureCache(root), 0
    for i in range(n):
        k = f'key{i % 20:02d}'
        cache.save(k, torch.full((64,), float(i % 20))); cache.flush()         # each save its own shard: the most files racing
        f = cache.load_many([k], 64)[0]
        bad += f is not None and not bool((f == float(i % 20)).all())
    return bad


def test_two_processes_writing_one_cache(tmp_path, caplog):
    with mp.get_context('spawn').Pool(2) as pool:
        bad = pool.starmap(_hammer, [(tmp_path, w, 1000) for w in range(2)])
    assert bad == [0, 0] and not list(tmp_path.rglob('*.part'))


def test_a_changed_cache_value_is_recomputed(n5k, tmp_path):
    "Values changed inside cache files (structure intact): detected, recomputed, and the run's metrics equal a clean run's."
    from safetensors.numpy import save as safetensors_bytes
    from nutrition_predictor.feature_cache import read_shard, shard_keys
    from nutrition_predictor.experiment import fit_run
    from nutrition_predictor.config import read_params
    # One head on the features themselves: a recomputed feature differs from the first in its last bits (as from any batch
    # of another size), and on 19 training dishes both the projection's components beyond the 19th (arbitrary directions)
    # and the closed-form heads' regularisation search can turn on noise that small.
    cfg = read_params(ROOT/'params/offline.yaml',
                      dict(data_dir=str(n5k), img_size=64, epochs=2, bs=4, cv_folds=2, wandb='disabled',
                                                      cache_dir=str(tmp_path/'cache'), heads=['mlp'], n_components=0))
    clean = fit_run(cfg, tmp_path/'clean', device='cpu')
    shard = sorted((tmp_path/'cache').rglob('*.safetensors'))[0]               # five rows of a shard, their checksums kept
    vectors, sums = read_shard(shard)
    vectors = vectors.copy(); vectors[:5] *= 3
    shard.write_bytes(safetensors_bytes({'vectors': vectors, 'checksums': sums}, metadata={'keys': '\n'.join(shard_keys(shard))}))
    again = fit_run(cfg, tmp_path/'again', device='cpu')
    assert again.feature_counts['computed'] == 5
    # recomputed: the same features, up to float noise
    for name in ('test', 'cv'):
        assert getattr(again, name).mae == pytest.approx(getattr(clean, name).mae, rel=1e-3), name


def test_a_truncated_frame_is_dropped_by_name(n5k, tmp_path):
    "One frame cut in half: `train` completes, names the dish in metrics.json `dropped`; its rerun computes no feature twice."
    import shutil
    data = tmp_path/'n5k'; shutil.copytree(n5k, data)
    frame = sorted((data/'side_angle_images').rglob('camera_A_frame_002.jpeg'))[5]
    frame.write_bytes(frame.read_bytes()[:len(frame.read_bytes()) // 2])
    runs = []
    for k in range(2):
        r = subprocess.run([*_quick(data, tmp_path/'cache'), '--out', str(tmp_path/f'run{k}')], capture_output=True, text=True,
                           timeout=900, cwd=tmp_path, env=_env())
        assert r.returncode == 0, r.stderr[-3000:]
        runs.append(RunFolder(tmp_path/f'run{k}').metrics())
    dish = frame.parent.name
    assert [reason for reason in runs[0].dropped if dish in reason and 'truncated' in reason]
    assert runs[1].feature_counts['computed'] == 0


def test_export_through_a_dangling_link_is_refused(tmp_path):
    """A run whose model.onnx is a link to a place outside it (dangling): `export` refuses by name, writes nothing there,
    keeps the seal."""
    import shutil
    from nutrition_predictor.runs import pretrained_run
    run = tmp_path/'run'
    shutil.copytree(pretrained_run().path, run, ignore=shutil.ignore_patterns('*.onnx', 'examples'))
    RunFolder(run).seal()                                           # a finished run never exported
    record = (run/'complete.json').read_bytes()
    outside = tmp_path/'elsewhere/model.onnx'
    (run/'model.onnx').symlink_to(outside)
    r = subprocess.run([CLI, 'export', '--onnx', '--run', str(run)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and 'is a link' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert not outside.parent.exists() and (run/'complete.json').read_bytes() == record
    assert not list(run.glob('.*partial'))


def test_params_file_names_and_duplicate_keys(n5k, tmp_path):
    "`train \"my params.yaml\"` trains (the run is named my-params); a key given twice is refused in one line naming it."
    (tmp_path/'my params.yaml').write_text(f"base: {ROOT/'params/offline.yaml'}\n")
    r = subprocess.run(_quick(n5k, tmp_path/'cache')[:2] + [str(tmp_path/'my params.yaml')] + _quick(n5k, tmp_path/'cache')[3:],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path, env=_env())
    assert r.returncode == 0 and RunFolder(tmp_path/'runs/my-params').problems() == [], r.stderr[-3000:]
    (tmp_path/'twice.yaml').write_text('epochs: 3\nlr: 0.01\nepochs: 7\n')
    r = subprocess.run([CLI, 'train', str(tmp_path/'twice.yaml'), '-p', 'data_dir', str(n5k)], capture_output=True,
                       text=True, timeout=120,
                       cwd=tmp_path, env=_env())
    errors = [l for l in r.stderr.splitlines() if l.startswith('error:')]
    assert r.returncode == 1 and len(errors) == 1 and "'epochs' is given twice (first at line 1)" in errors[0], r.stderr[-2000:]
    assert not (tmp_path/'runs/twice').exists()
