"Bad data gives an error that names the file (and the line, for the CSVs)."
import subprocess

import pytest

from conftest import CLI

from nutrition_predictor.config import TrainConfig, config_dishes
from nutrition_predictor.images import DataError
from nutrition_predictor.features import dish_dataloaders, target_stats


def _edit_line(path, lineno, edit):
    lines = path.read_text().splitlines()
    lines[lineno - 1] = edit(lines[lineno - 1])
    path.write_text('\n'.join(lines) + '\n')


def test_synthetic_folder_reads(synthetic_n5k):
    t = config_dishes(TrainConfig(data_dir=str(synthetic_n5k), view='overhead'))
    assert t.split.value_counts().to_dict() == {'train': 4, 'test': 2}
    assert t.loc[0, 'calories'] == 100


def test_missing_image_folder(synthetic_n5k):
    import shutil
    shutil.rmtree(synthetic_n5k/'imagery')
    with pytest.raises(DataError, match='imagery/realsense_overhead'):
        config_dishes(TrainConfig(data_dir=str(synthetic_n5k), view='overhead'))


def test_missing_side_angle_folder(synthetic_n5k):
    with pytest.raises(DataError, match='side_angle_images'):
        config_dishes(TrainConfig(data_dir=str(synthetic_n5k), frame=1))


def test_truncated_csv_line(synthetic_n5k):
    csv = synthetic_n5k/'metadata/dish_metadata_cafe1.csv'
    _edit_line(csv, 3, lambda l: l.rsplit(',', 3)[0])          # the line loses its last 3 fields
    with pytest.raises(DataError, match=r'dish_metadata_cafe1\.csv, line 3: .*got'):
        config_dishes(TrainConfig(data_dir=str(synthetic_n5k), view='overhead'))


def test_non_numeric_label(synthetic_n5k):
    csv = synthetic_n5k/'metadata/dish_metadata_cafe2.csv'
    _edit_line(csv, 1, lambda l: l.replace(',200,150,', ',200,about 150,'))
    with pytest.raises(DataError, match=r"dish_metadata_cafe2\.csv, line 1: total_mass is 'about 150'"):
        config_dishes(TrainConfig(data_dir=str(synthetic_n5k), view='overhead'))


def test_missing_metadata_file(synthetic_n5k):
    (synthetic_n5k/'metadata/dish_metadata_cafe2.csv').unlink()
    with pytest.raises(DataError, match='dish_metadata_cafe2.csv'):
        config_dishes(TrainConfig(data_dir=str(synthetic_n5k), view='overhead'))


def test_missing_split_file(synthetic_n5k):
    (synthetic_n5k/'dish_ids/splits/rgb_test_ids.txt').unlink()
    with pytest.raises(DataError, match='rgb_test_ids.txt'):
        config_dishes(TrainConfig(data_dir=str(synthetic_n5k), view='overhead'))


def test_corrupt_image_named_when_loaded(synthetic_n5k):
    t = config_dishes(TrainConfig(data_dir=str(synthetic_n5k), view='overhead'))
    bad = t.image[t.split == 'train'].iloc[1]
    bad.write_bytes(bad.read_bytes()[:40])                       # a truncated PNG
    cfg = TrainConfig(view='overhead', img_size=32, bs=4, per_gram=False, log_targets=False)
    tm, ts = target_stats(t, cfg.outputs(), cfg.log_targets)
    dls = dish_dataloaders(t, tm, ts, cfg, 'cpu')
    with pytest.raises(DataError, match=bad.parent.name):
        list(dls.train)


def test_dish_without_image_or_with_zero_label_is_dropped(synthetic_n5k):
    t0 = config_dishes(TrainConfig(data_dir=str(synthetic_n5k), view='overhead'))
    t0.image[0].unlink()
    csv = synthetic_n5k/'metadata/dish_metadata_cafe1.csv'
    _edit_line(csv, 2, lambda l: l.replace(',150,110,', ',0,110,'))
    t = config_dishes(TrainConfig(data_dir=str(synthetic_n5k), view='overhead'))
    assert len(t) == 4
    assert t.attrs['dropped']['no overhead image file'] == 1
    assert t.attrs['dropped']['labelled 0 kcal or 0 g'] == 1


def test_cli_reports_bad_data_by_file(synthetic_n5k, tmp_path):
    "Through the whole front door: the CLI runs the notebook, which fails with the file's name, and exits non-zero."
    (synthetic_n5k/'dish_ids/splits/rgb_train_ids.txt').unlink()
    r = subprocess.run([CLI, 'train', '-p', 'data_dir', str(synthetic_n5k), '-p', 'view', 'overhead',
                        '-p', 'backbone', 'efficientnet_lite0', '-p', 'wandb', 'disabled', '--out', str(tmp_path/'run')],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode != 0
    assert 'rgb_train_ids.txt' in r.stderr
