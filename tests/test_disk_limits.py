"""The machine's limits in one line: a full disk (a small tmpfs) and a read-only destination, in `download`, `train` and
`export`: one `error:` line naming the path, a non-zero exit, no traceback, nothing partial left. Needs root to mount
the tmpfs (CI runs as root); skipped, saying so, elsewhere."""
import contextlib, os, shutil, subprocess

import pytest

from conftest import CLI, ROOT
from nutrition_predictor.runs import RunFolder, pretrained_run
from nutrition_predictor.synthetic import synthetic_n5k


@contextlib.contextmanager
def _tmpfs(path, size:str, read_only:bool=False, fill:bool=False):
    "A tmpfs of `size` at `path` (full: filled to the last byte; read-only: mounted so), unmounted after."
    path.mkdir(parents=True)
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(path)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()[:200]})")
    try:
        if fill: subprocess.run(['dd', 'if=/dev/zero', f'of={path}/filler', 'bs=64k'], capture_output=True)
        if read_only: subprocess.run(['mount', '-o', 'remount,ro', str(path)], check=True)
        yield path
    finally: subprocess.run(['umount', '-l', str(path)])


def _one_line(r, path) -> str:
    errors = [l for l in r.stderr.splitlines() if l.startswith('error:')]
    assert r.returncode != 0 and len(errors) == 1 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert str(path) in errors[0] and len(errors[0]) < 400, errors[0]
    return errors[0]


def _env():
    return {k: v for k, v in os.environ.items() if k != 'NUTRITION5K_DIR'} | {'WANDB_MODE': 'disabled'}


@pytest.fixture(scope='module')
def n5k(tmp_path_factory): return synthetic_n5k(tmp_path_factory.mktemp('synthetic')/'n5k')


@pytest.mark.parametrize('kind', ['full', 'read-only'])
def test_download(n5k, tmp_path, kind):
    with _tmpfs(tmp_path/'fs', '48k', read_only=kind == 'read-only') as fs:
        r = subprocess.run([CLI, 'download', '--source', str(n5k), '--dest', str(fs/'n5k'), '--views', 'overhead'],
                           capture_output=True, text=True, timeout=300, env=_env())
        line = _one_line(r, fs/'n5k')
        assert ('disk is full' if kind == 'full' else 'read-only') in line, line
        assert not [p for p in fs.rglob('*.part')]                                # no half-written file left


@pytest.mark.parametrize('kind', ['full', 'read-only'])
def test_train(n5k, tmp_path, kind):
    with _tmpfs(tmp_path/'fs', '4m', read_only=kind == 'read-only', fill=kind == 'full') as fs:
        r = subprocess.run([CLI, 'train', str(ROOT/'params/offline.yaml'), '-p', 'data_dir', str(n5k), '-p', 'epochs',
                            '1', '-p', 'bs', '4', '-p', 'cv_folds', '2',
                            '-p', 'cache_dir', str(tmp_path/'cache'), '--out', str(fs/'run')], capture_output=True,
                            text=True, timeout=600, env=_env())
        line = _one_line(r, fs)
        assert ('MB free' if kind == 'full' else 'read-only') in line, line
        assert not [p for p in fs.iterdir() if p.name != 'filler']               # no run folder, whole or partial


@pytest.mark.parametrize('kind', ['full', 'read-only'])
def test_export(tmp_path, kind):
    with _tmpfs(tmp_path/'fs', '16m') as fs:
        run = fs/'run'
        shutil.copytree(pretrained_run().path, run, ignore=shutil.ignore_patterns('*.onnx', 'examples'))
        RunFolder(run).seal()
        record = (run/'complete.json').read_bytes()
        if kind == 'read-only': subprocess.run(['mount', '-o', 'remount,ro', str(fs)], check=True)
        r = subprocess.run([CLI, 'export', '--onnx', '--run', str(run)], capture_output=True, text=True, timeout=600)
        line = _one_line(r, run)
        assert ('disk is full' if kind == 'full' else 'read-only') in line, line
        assert not (run/'model.onnx').exists() and not list(run.glob('.*partial'))
        assert (run/'complete.json').read_bytes() == record


@pytest.mark.parametrize('kind', ['full', 'read-only'])
def test_train_with_the_cache_on_that_disk(n5k, tmp_path, kind):
    """The feature cache on a full disk fails inside the run (torch's zip writer): one line naming the cache file, no run
    folder left."""
    with _tmpfs(tmp_path/'fs', '128k', read_only=kind == 'read-only') as fs:
        r = subprocess.run([CLI, 'train', str(ROOT/'params/offline.yaml'), '-p', 'data_dir', str(n5k), '-p', 'epochs',
                            '1', '-p', 'bs', '4',
                            '-p', 'cv_folds', '2', '-p', 'cache_dir', str(fs/'cache'), '--out', str(tmp_path/'run')],
                           capture_output=True, text=True, timeout=600, env=_env())
        line = _one_line(r, fs/'cache')
        assert ('disk is full' if kind == 'full' else 'read-only') in line, line
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(('run', '.run'))]   # no run folder, whole or partial
