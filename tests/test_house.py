"The house's floors: what the doors import, one owner per default and per limit, and the CLI built from the functions."
import dataclasses, json, re, subprocess, sys

import pytest

from conftest import CLI, ROOT
from test_package import PKG, _package_imports

TRAINING = {'fastai.learner', 'wandb'}


def _imported_after(code:str, watched=TRAINING) -> set:
    "The modules of `watched` that are loaded after running `code` in a fresh interpreter."
    r = subprocess.run([sys.executable, '-c',
                        code + f"\nimport sys, json; print(json.dumps(sorted(m for m in {sorted(watched)!r} if m in "
                               "sys.modules)))"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    return set(json.loads(r.stdout.splitlines()[-1]))


def test_the_check_sees_training_imports():
    "The check itself can fail: importing the trainer loads the Learner and wandb."
    assert _imported_after("import nutrition_predictor.train") == TRAINING


def test_predicting_imports_no_training():
    code = ("from nutrition_predictor.predict import Predictor\np = Predictor.from_run()\n"
            "import numpy as np; p.predict(np.full((480, 640, 3), 128, np.uint8))")
    assert _imported_after(code) == set()


def test_the_default_engine_imports_no_torch():
    "The shipped model comes with its ONNX file, so the default engine predicts without torch; asking for torch loads it."
    code = ("from nutrition_predictor.predict import Predictor\np = Predictor.from_run({})\n"
            "import numpy as np; p.predict(np.full((480, 640, 3), 128, np.uint8))")
    assert _imported_after(code.format(''), {'torch'}) == set()
    assert _imported_after(code.format("engine='torch'"), {'torch'}) == {'torch'}


@pytest.mark.parametrize('argv', [['--help'], ['predict', '--help'], ['serve', '--help'], ['download', '--help']])
def test_help_imports_no_training(argv):
    code = f"from nutrition_predictor.cli import main\ntry: main({argv!r})\nexcept SystemExit: pass"
    assert _imported_after(code) == set()


def test_only_training_modules_import_train():
    importers = {m for m, deps in _package_imports().items() if 'train' in deps}
    assert importers and importers <= {'experiment', 'bench'}, importers


# Defaults and limits that once had several owners: each pattern may match in its one owner only.
OWNED = {
    r"=\s*'squash'": 'config.py',                                  # the default fit
    r"positive\s*:\s*bool\s*=": 'config.py',                        # clipping at 0
    r"\bview\s*(:[^=]*)?=\s*'(overhead|side)'": 'config.py',       # the default view
    r"\bframe\s*(:[^=]*)?=\s*\d": 'config.py',                      # the default frame
    r"20\s*\*\s*2\s*\*\*\s*20": 'images.py',                       # the upload cap
    r"^(MIN_SIDE|MAX_PIXELS|MAX_UPLOAD|MAX_FILES|MIN_MASS_G|MAX_MASS_G)\b.*=": 'images.py',
    r"runs/default": None,                                           # no door defaults to a run that may not exist
    r"workers\s*(:\s*int)?\s*=\s*8\b": 'download.py',                # parallel downloads
    r"4\.184": 'plate.py',                                           # kJ per kcal
    r"^(MAX_KCAL_PER_G|ATWATER)\b.*=": 'data.py',                     # facts about food
    r"ingredient_min_dishes\s*:[^=]*=\s*\d": 'config.py',             # the ingredient vocabulary's cut-off (a declared default)
    r"coverage\s*(:.*)?=\s*0?\.\d": 'config.py',                         # the ranges' and the guard's coverage (TrainConfig's)
         # near-copies within this many seconds share a group
    r"gap_s\s*(:\s*\w+(\(.*\))?)?\s*=\s*\d": 'config.py',
    r"n_boot\s*(:[^=,)]*)?=\s*2000": None,                             # bootstrap resamples: N_BOOT, below
    r"^N_BOOT\b.*=": 'evaluate.py',
    r"Path\('runs'\)": 'runs.py',                                        # where run folders go (RunFolder.for_config)
    r"Path\('data/nutrition5k'\)": 'data.py',                             # where the data goes
    r"\b64 if\b|\belse 4\)": None,                                       # the backbone batch by device: backbone_batch_size
    r"^CPU_BATCH, GPU_BATCH\b.*=": 'images.py',
    r"\bfat\s*=\s*9\b|\b9\.?\s*\*\s*\w*fat": 'data.py',                   # 9 kcal a gram of fat (Atwater; MAX_KCAL_PER_G)
    r"choose from \{sorted\(BACKBONES\)\}|include the network 'mlp'|set n_components": 'config.py',   # the parts' rules
    r"^(MAX_CONCURRENT|MAX_PER_CLIENT)\b.*=": 'batching.py',               # requests in progress, in all and per client
    r"decoding budget|> BULK_PIXELS": 'batching.py',                        # the admission policy: refusal and bulk lane
}


@pytest.mark.parametrize('pattern,owner', OWNED.items())
def test_each_default_has_one_owner(pattern, owner):
    files = {f.name for f in PKG.glob('*.py') if f.name != '_modidx.py'
             for line in f.read_text().splitlines()
             if not line.lstrip().startswith('#') and re.search(pattern, line.split('  #')[0])}
    assert files == ({owner} if owner else set()), (pattern, files)


def test_model_config_takes_its_defaults_from_train_config():
    from nutrition_predictor.config import ModelConfig, TrainConfig
    run, model = TrainConfig(), ModelConfig()
    shared = {f.name for f in dataclasses.fields(ModelConfig)} & {f.name for f in dataclasses.fields(TrainConfig)}
    assert {'positive', 'square', 'img_size', 'backbone'} <= shared
    norm = lambda k, v: (v,) if k == 'backbone' and isinstance(v, str) else v      # a name alone is one backbone
    assert {k: getattr(model, k) for k in shared} == {k: norm(k, getattr(run, k)) for k in shared}
    assert model.positive                                             # examples clip like trained models


def test_cli_help_is_built_from_the_library():
    "`download --help` shows the library function's defaults and comments, not a copy."
    import inspect
    from nutrition_predictor.download import download
    r = subprocess.run([CLI, 'download', '--help'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"(default: {inspect.signature(download).parameters['workers'].default})" in r.stdout
    assert 'Parallel downloads' in r.stdout
