"""Is int8 worth an engine option? (issue 27, item 4.) onnxruntime's static int8 quantization of the frozen backbones,
judged the only fair way: the whole run (projection, heads, ranges, guard, drift) refitted on the int8 backbones' own
features, against the same run on float32 features, both from fresh feature caches.

    NUTRITION5K_DIR=... python benchmarks/int8.py [--params params/offline.yaml] [--calibration 100] [--timing 48]

For each backbone of the params file, its pooled-feature extractor is exported to ONNX (`features.OnnxExtractor`, the
file the cache build runs) and quantized with `onnxruntime.quantization.quantize_static` (QDQ, per-channel int8
weights, uint8 activations, min-max calibration on `--calibration` training photos), in two variants:

- `int8`: every operator onnxruntime quantizes;
- `int8_float_sensitive`: the depthwise convolutions, the first and the last convolution kept in float32.

Then, on the same photos and threads (`images.onnx_session`), interleaved: the CPU time an image at the cache build's
batch of 4, and how far each variant moves the features (relative RMSE against float32). Last, each variant's files
are placed in a fresh cache folder under the float32 files' names, so the run of PARAMS (`experiment.fit_run`, what
`nutrition-predictor train` runs; once per variant, with `NUTRITION_PREDICTOR_CACHE` pointing there) computes, trains
and evaluates on that variant's features only. (The run's check that its cached evaluation matches the float32 model's
own predictions of a few photos is off for the int8 variants, whose features are not float32's by design.)

The verdict follows the issue: shipped only if grouped-CV calories and mass MAE% are within bootstrap noise of float32
(the paired group-bootstrap interval of the difference contains 0), the guard's test-split flags within 2, and the CPU
an image at most 1/1.3 of float32's. Writes `benchmarks/results/int8-<time>.json`."""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from nutrition_predictor.config import config_dishes, read_params
from nutrition_predictor.data import TARGETS, dish_groups
from nutrition_predictor.evaluate import group_bootstrap_weights, ratio_interval
from nutrition_predictor.features import OnnxExtractor
from nutrition_predictor.images import model_input, onnx_session, prepare_image
from nutrition_predictor.model import NutritionRegressor

HERE = Path(__file__).resolve().parents[1]
VARIANTS = ('float32', 'int8', 'int8_float_sensitive')


class Photos(CalibrationDataReader):
    "Feeds prepared photos to onnxruntime's calibration, one at a time."
    def __init__(self, name:str, arrays:list): self.name, self.it = name, iter(arrays)
    def get_next(self):
        x = next(self.it, None)
        return None if x is None else {self.name: x[None]}


def sensitive_convs(path:Path) -> list[str]:
    "Names of the depthwise convolutions (`group` > 1) and of the first and last convolution of an ONNX graph."
    convs = [n for n in onnx.load(str(path)).graph.node if n.op_type == 'Conv']
    group = lambda n: next((a.i for a in n.attribute if a.name == 'group'), 1)
    return sorted({n.name for n in convs if group(n) > 1} | {convs[0].name, convs[-1].name})


def quantize(fp32:Path, out:Path, arrays:list, exclude:list|None=None):
    "Static QDQ int8 of `fp32` (per-channel weights), calibrated on `arrays`; `exclude`: nodes kept in float32."
    pre = out.with_suffix('.pre.onnx')
    quant_pre_process(str(fp32), str(pre))
    name = onnx.load(str(pre)).graph.input[0].name
    quantize_static(str(pre), str(out), Photos(name, arrays), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=exclude or [])
    pre.unlink()


def time_and_features(files:dict, batch:np.ndarray, reps:int) -> tuple[dict, dict]:
    "Per variant: median CPU and wall ms an image over `reps` interleaved passes at batch 4, and the features."
    sessions = {v: onnx_session(p) for v, p in files.items()}
    cpu, wall, feats = {v: [] for v in files}, {v: [] for v in files}, {}
    for _ in range(reps):
        for v, s in sessions.items():
            name, out = s.get_inputs()[0].name, []
            c, w = time.process_time(), time.perf_counter()
            for i in range(0, len(batch), 4): out.append(s.run(None, {name: batch[i:i + 4]})[0])
            cpu[v].append(1000 * (time.process_time() - c) / len(batch))
            wall[v].append(1000 * (time.perf_counter() - w) / len(batch))
            feats[v] = np.concatenate(out)
    return {v: dict(cpu_ms=float(np.median(cpu[v])), wall_ms=float(np.median(wall[v])), cpu_ms_reps=cpu[v]) for v in files}, feats


# A run checks that its evaluation from cached features matches the model's own predictions of a few photos; the model's
# backbones are float32, so with another variant's features in the cache that check must be off (and only then).
RUN = """import sys
from nutrition_predictor import experiment
from nutrition_predictor.config import read_params
if sys.argv[3] != 'float32': experiment.CACHED_RTOL = float('inf')
experiment.fit_run(read_params(sys.argv[1]), sys.argv[2])"""

def train_run(params:str, cache:Path, out:Path, variant:str) -> tuple[dict, float]:
    """`fit_run` of `params` (what `nutrition-predictor train` runs) with `cache` as the feature cache root: its metrics
    and wall seconds."""
    t = time.perf_counter()
    subprocess.run([sys.executable, '-c', RUN, params, str(out), variant], check=True,
                   env={**os.environ, 'NUTRITION_PREDICTOR_CACHE': str(cache)})
    return json.loads((out/'metrics.json').read_text()), time.perf_counter() - t


def paired_difference(a:Path, b:Path, dishes:pd.DataFrame, gap_s:float) -> dict:
    "Grouped-CV MAE% of run `b` minus run `a`, per nutrient, with its paired 95% group-bootstrap interval."
    oa, ob = (pd.read_csv(r/'cv_predictions.csv', index_col='dish_id') for r in (a, b))
    ob = ob.loc[oa.index]
    truth = dishes.set_index('dish_id').loc[oa.index, TARGETS]
    w = group_bootstrap_weights(dish_groups(truth.index, gap_s))
    out = {}
    for t in TARGETS:
        d = 100 * (np.abs(ob[t] - truth[t]) - np.abs(oa[t] - truth[t])).to_numpy()
        out[t] = dict(difference=float(d.sum() / truth[t].sum()), interval=list(ratio_interval(w, d, truth[t].to_numpy())))
    return out


def summary(m:dict) -> dict:
    "What the verdict reads from a run's metrics."
    g = m['guard']
    return dict(cv_mae_pct=m['cv']['mae_pct'], cv_mae_pct_ci=m['cv']['mae_pct_ci'], test_mae_pct=m['test']['mae_pct'],
                coverage=m['coverage']['coverage'], mean_width=m['coverage']['mean_width'],
                guard_test_flags=round(g['false_alarm_test'] * g['n_test']), guard_detection_nonfood=g['detection_nonfood'],
                guard_detection_blank=g['detection_blank'], guard_detection_other_view=g.get('detection_other_view'))


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument('--params', default='params/offline.yaml')
    a.add_argument('--calibration', type=int, default=100, help='training photos that calibrate the int8 ranges')
    a.add_argument('--timing', type=int, default=48, help='test photos timed and compared')
    a.add_argument('--reps', type=int, default=3)
    a.add_argument('--out', default=str(HERE/'benchmarks/results'))
    args = a.parse_args()
    cfg = read_params(args.params)
    c = cfg.model_config()
    dishes = config_dishes(cfg)
    rng = np.random.default_rng(cfg.seed)
    train_imgs = list(dishes.image[dishes.split == 'train'])
    test_imgs = list(dishes.image[dishes.split == 'test'])[:args.timing]
    prep = lambda paths: [model_input(prepare_image(p, c.img_size, c.fit)) for p in paths]
    calib = prep([train_imgs[i] for i in rng.choice(len(train_imgs), args.calibration, replace=False)])
    batch = np.stack(prep(test_imgs))
    model = NutritionRegressor(c, cfg.pretrained, cfg.weights_path)
    res = dict(started=datetime.now(timezone.utc).isoformat(timespec='seconds'), params=args.params, machine=os.uname().nodename,
               cpus=len(os.sched_getaffinity(0)), n_calibration=args.calibration, n_timing=len(batch), backbones={})
    with tempfile.TemporaryDirectory() as tmp:
        tmp, files = Path(tmp), {v: {} for v in VARIANTS}
        for name, pooled in zip(c.backbone, model.backbone.bodies):
            fp32 = OnnxExtractor(pooled, c.img_size, tmp/'export').path
            files['float32'][name] = fp32
            files['int8'][name] = tmp/f'{name}.int8.onnx'
            quantize(fp32, files['int8'][name], calib)
            files['int8_float_sensitive'][name] = tmp/f'{name}.int8_float_sensitive.onnx'
            excluded = sensitive_convs(fp32)
            quantize(fp32, files['int8_float_sensitive'][name], calib, excluded)
            times, feats = time_and_features({v: files[v][name] for v in VARIANTS}, batch, args.reps)
            ref = feats['float32']
            res['backbones'][name] = dict(
                float_nodes_in_int8_float_sensitive=len(excluded),
                bytes={v: files[v][name].stat().st_size for v in VARIANTS}, times=times,
                feature_relative_rmse={v: float(np.linalg.norm(feats[v] - ref) / np.linalg.norm(ref)) for v in VARIANTS})
            print(name, json.dumps(res['backbones'][name]), flush=True)
        per_image = {v: sum(b['times'][v]['cpu_ms'] for b in res['backbones'].values()) for v in VARIANTS}
        res['cpu_ms_per_image'] = per_image
        res['cpu_ratio_to_float32'] = {v: per_image[v] / per_image['float32'] for v in VARIANTS}
        runs, res['runs'] = {}, {}
        for v in VARIANTS:
            cache = tmp/'cache'/v
            (cache/'onnx').mkdir(parents=True)
            for name in c.backbone: shutil.copy(files[v][name], cache/'onnx'/files['float32'][name].name)
            runs[v] = tmp/'runs'/v
            m, wall = train_run(args.params, cache, runs[v], v)
            extra = sorted(set(p.name for p in (cache/'onnx').glob('*.onnx')) - {files['float32'][n].name for n in c.backbone})
            if extra: sys.exit(f'{v}: the run exported extractors of its own ({extra}): its features are not this variant\'s')
            res['runs'][v] = dict(wall_s=wall, **summary(m))
            print(v, json.dumps(res['runs'][v]), flush=True)
        checked = dishes.set_index('dish_id').loc[pd.read_csv(runs['float32']/'cv_predictions.csv').dish_id].reset_index()
        res['cv_difference_to_float32'] = {v: paired_difference(runs['float32'], runs[v], checked,
                cfg.group_gap_s) for v in VARIANTS[1:]}
    ok = {}
    for v in VARIANTS[1:]:
        d, r = res['cv_difference_to_float32'][v], res['runs']
        ok[v] = dict(calories_mass_within_noise=all(d[t]['interval'][0] <= 0 <= d[t]['interval'][1]
                                                    for t in ('calories', 'mass')),
                     guard_flags_within_2=abs(r[v]['guard_test_flags'] - r['float32']['guard_test_flags']) <= 2,
                     at_least_1_3x_less_cpu=res['cpu_ratio_to_float32'][v] <= 1 / 1.3)
        ok[v]['ship'] = all(ok[v].values())
    res['verdict'] = ok
    out = Path(args.out)/f"int8-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(res, indent=1)); print(json.dumps(ok, indent=1)); print(out)


if __name__ == '__main__': main()
