"""Bad labels never make a clean-looking run: a mass of 1e30 g, an `inf`, a negative value and a dish id labelled twice
with two labels are each dropped by dish id, file and line, counted in the run's `dropped`, and the run's scores (its
mean predictor's too) stay within the bootstrap noise of the clean run's. On a synthetic folder: no dataset needed."""
import json, os, shutil, subprocess

from conftest import CLI, ROOT
from nutrition_predictor.config import TrainConfig, config_dishes
from nutrition_predictor.data import METADATA_FILES
from nutrition_predictor.synthetic import synthetic_n5k

DROPPED = 'a label that cannot be a plate (each named above with its file and line)'


def _train(n5k, out, cache):
    env = {k: v for k, v in os.environ.items() if k != 'NUTRITION5K_DIR'} | {'WANDB_MODE': 'disabled'}
    r = subprocess.run([CLI, 'train', str(ROOT/'params/offline.yaml'), '-p', 'data_dir', str(n5k), '-p', 'img_size',
                        '64', '-p', 'epochs', '2',
                        '-p', 'bs', '4', '-p', 'cv_folds', '0', '-p', 'cache_dir', str(cache), '--out', str(out)],
                       capture_output=True, text=True, timeout=900, env=env, cwd=out.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((out/'metrics.json').read_text()), r.stderr


def _corrupt(n5k) -> dict:
    """Four training dishes' labels made bad in place: `{dish_id: (file, line)}` of each bad line (the twice-labelled
    dish: its new line)."""
    train = config_dishes(TrainConfig(data_dir=str(n5k))).query("split == 'train'").dish_id.tolist()[:4]
    edits = {train[0]: lambda f: [f[0], f[1], '1e30', *f[3:]], train[1]: lambda f: [f[0], 'inf', *f[2:]],
             train[2]: lambda f: [*f[:3], '-5', *f[4:]]}
    where = {}
    for rel in METADATA_FILES:
        path = n5k/rel
        lines = path.read_text().splitlines()
        for i, line in enumerate(list(lines)):
            fields = line.split(',')
            if fields[0] in edits: lines[i] = ','.join(edits[fields[0]](fields)); where[fields[0]] = (rel, i + 1)
            if fields[0] == train[3]:                                  # the same dish again, 50 g heavier
                lines.append(','.join([fields[0], fields[1], str(float(fields[2]) + 50), *fields[3:]]))
                where[fields[0]] = (rel, len(lines))
        path.write_text('\n'.join(lines) + '\n')
    assert len(where) == 4
    return where


def test_bad_labels_are_dropped_by_name_and_line(tmp_path):
    clean_dir = synthetic_n5k(tmp_path/'clean')
    bad_dir = tmp_path/'bad'
    shutil.copytree(clean_dir, bad_dir)
    where = _corrupt(bad_dir)
    clean, _ = _train(clean_dir, tmp_path/'clean-run', tmp_path/'cache')
    bad, stderr = _train(bad_dir, tmp_path/'bad-run', tmp_path/'cache')
    for dish, (rel, line) in where.items():                           # each named: file, line, dish
        assert any(f'{rel}, line {line}: {dish} dropped' in l for l in stderr.splitlines()), (dish, rel, line, stderr[-3000:])
    assert bad['dropped'][DROPPED] == 4 and clean['dropped'][DROPPED] == 0
    for t, (lo, hi) in clean['test']['mae_pct_ci'].items():           # within the clean run's bootstrap noise: nothing poisoned
        assert lo <= bad['test']['mae_pct'][t] <= hi, (t, bad['test']['mae_pct'][t], lo, hi)
        blo, bhi = clean['test']['baseline_mae_pct_ci'][t]
        assert blo <= bad['test']['baseline_mae_pct'][t] <= bhi, (t, bad['test']['baseline_mae_pct'][t], blo, bhi)
