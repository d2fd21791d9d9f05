"""Would float16 weights do for the shipped ONNX file? Its weights stored as float16 and cast back to float32 when
onnxruntime loads the file (so the arithmetic stays float32) halve its bytes; this measures what the rounding does to
the predictions of the official test split's side-view photos (and the shipped examples), against the float32 file,
for two choices of what to store in float16: every weight tensor of 1,024 values or more, and the backbones' only.

    NUTRITION5K_DIR=... python benchmarks/onnx_half_weights.py [--run RUN]     # default: the shipped model

Writes `benchmarks/results/onnx-half-weights-<time>.json`: file sizes, the largest relative change of each nutrient,
the guard's verdicts and ingredient lists that changed, and the CPU seconds of each file on the same photos."""
import argparse, json, shutil, tempfile, time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from nutrition_predictor.data import TARGETS, dish_table
from nutrition_predictor.predict import Predictor
from nutrition_predictor.runs import RunFolder, as_run

HERE = Path(__file__).resolve().parents[1]


def store_half(src:Path, dst:Path, keep) -> int:
    "Write `src` with every float32 initializer `keep(name, size)` selects stored as float16 behind a Cast to float32; the count."
    m = onnx.load(str(src)); g = m.graph
    casts, inits = [], []
    for t in g.initializer:
        if t.data_type == TensorProto.FLOAT and keep(t.name, int(np.prod(t.dims))):
            inits.append(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name + '.float16'))
            casts.append(helper.make_node('Cast', [t.name + '.float16'], [t.name], to=TensorProto.FLOAT))
        else: inits.append(t)
    del g.initializer[:]; g.initializer.extend(inits)
    nodes = casts + list(g.node); del g.node[:]; g.node.extend(nodes)
    onnx.checker.check_model(m); onnx.save(m, str(dst))
    return len(casts)


def predictions(run:RunFolder, images:list) -> tuple[list, float]:
    "The onnxruntime predictions of `images` and the CPU seconds they took."
    p = Predictor.from_run(run, engine='onnx')
    t = time.process_time()
    out = p.predict_batch(images, bs=8)
    return out, time.process_time() - t


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument('--run', default=None); a.add_argument('--out', default=str(HERE/'benchmarks/results'))
    args = a.parse_args()
    run = as_run(args.run).check()
    cfg = run.config()
    dishes = dish_table(None, cfg.view, cfg.camera, cfg.frame, cfg.max_kcal)          # from NUTRITION5K_DIR
    images = sorted(map(str, (run.path/'examples').glob('*.jpg'))) + list(dishes.image[dishes.split == 'test'])
    ref, ref_cpu = predictions(run, images)
    variants = dict(every_weight_tensor=lambda name, n: n >= 1024, backbones_only=lambda name,
                    n: n >= 1024 and '.backbone.' in name)
    res = dict(started=datetime.now(timezone.utc).isoformat(timespec='seconds'), run=str(run.path), n_images=len(images),
               float32=dict(bytes=run.onnx_file.stat().st_size, cpu_s=ref_cpu), variants={})
    A = np.array([p.values() for p in ref])
    with tempfile.TemporaryDirectory() as tmp:
        for name, keep in variants.items():
            half = RunFolder(Path(tmp)/name)
            shutil.copytree(run.path, half.path)
            n = store_half(run.onnx_file, half.onnx_file, keep); half.seal()
            got, cpu = predictions(half, images)
            B = np.array([p.values() for p in got])
            rel = np.abs(B - A) / np.maximum(np.abs(A), 1e-6)
            res['variants'][name] = dict(
                tensors_in_float16=n, bytes=half.onnx_file.stat().st_size, cpu_s=cpu,
                max_relative_change={t: float(rel[:, i].max()) for i, t in enumerate(TARGETS)},
                median_relative_change={t: float(np.median(rel[:, i])) for i, t in enumerate(TARGETS)},
                photos_beyond_1e3=int((rel > 1e-3).any(1).sum()),
                guard_verdicts_changed=sum(x.unlike_training != y.unlike_training for x, y in zip(ref, got)),
                ingredient_lists_changed=sum([i.ingr_id for i in x.ingredients] != [i.ingr_id
                        for i in y.ingredients] for x, y in zip(ref, got)))
    path = Path(args.out)/f"onnx-half-weights-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.json"
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(json.dumps(res, indent=1))
    for name, v in res['variants'].items():
        print(f"{name}: {v['bytes'] / 1e6:.1f} MB (float32 {res['float32']['bytes'] / 1e6:.1f} MB); largest relative change "
              + ', '.join(f"{t} {x:.1e}" for t,
                          x in v['max_relative_change'].items()) + f"; {v['photos_beyond_1e3']} of {len(images)} "
                                                                   "photos beyond 1e-3")
    print(f"-> {path}")


if __name__ == '__main__': main()
