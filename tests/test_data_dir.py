"""The data folder is found from anywhere in a checkout: `nbdev-test` run in `nbs/` of a checkout whose
`data/nutrition5k` holds the data (and no `NUTRITION5K_DIR`) reads that data, not the synthetic stand-in."""
import json, os, shutil, subprocess, sys
from pathlib import Path

from conftest import ROOT

PROBE = '''from pathlib import Path
from nutrition_predictor.data import n5k_dir
from nutrition_predictor.synthetic import example_dir
assert n5k_dir() == Path('..').resolve()/'data/nutrition5k' == example_dir(), (n5k_dir(), example_dir())
Path('../seen.txt').write_text(str(example_dir()))'''


def test_nbdev_test_in_nbs_reads_the_checkouts_data(n5k_root, tmp_path):
    ck = tmp_path/'checkout'
    (ck/'nbs').mkdir(parents=True); (ck/'data').mkdir()
    shutil.copyfile(ROOT/'pyproject.toml', ck/'pyproject.toml')      # nbdev's settings, and the project's name
    (ck/'data/nutrition5k').symlink_to(n5k_root)
    nb = dict(nbformat=4, nbformat_minor=5, metadata={}, cells=[dict(cell_type='code', id='probe', metadata={}, outputs=[],
                                                                      execution_count=None, source=PROBE)])
    (ck/'nbs/probe.ipynb').write_text(json.dumps(nb))
    env = {k: v for k, v in os.environ.items() if k != 'NUTRITION5K_DIR'}
    r = subprocess.run([str(Path(sys.executable).parent/'nbdev-test'), 'probe.ipynb'], cwd=ck/'nbs', env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert (ck/'seen.txt').read_text() == str(ck/'data/nutrition5k')
