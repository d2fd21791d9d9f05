"""Robustness to ordinary photo faults: on the official test split's photos, the model's MAE% and its ranges' coverage
under each fault (brightness -50%, Gaussian blur, JPEG quality 35, downscaled to 480 px, rotated 90 degrees, a centre
crop), beside the untouched photos, and the share of photos the guard flags under each. No target on the numbers: they
say what a user can expect (issue: published work on this task found such faults raise errors by 10-55%).

    NUTRITION5K_DIR=... python benchmarks/robustness.py [--run RUN] [--save]      # default: the shipped model

Writes `benchmarks/results/robustness-<time>.json` and prints the table; `--save` also writes it into the run folder
(`RunFolder.robustness_file`), where the model card reads it (`card.model_card`)."""
import argparse, io, json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance, ImageFilter

from nutrition_predictor.data import TARGETS, dish_table
from nutrition_predictor.evaluate import mae_pct
from nutrition_predictor.images import read_image
from nutrition_predictor.predict import Predictor
from nutrition_predictor.runs import as_run

HERE = Path(__file__).resolve().parents[1]


def _jpeg(im:Image.Image, quality:int) -> Image.Image:
    buf = io.BytesIO(); im.save(buf, 'JPEG', quality=quality); return Image.open(io.BytesIO(buf.getvalue())).convert('RGB')

def _crop(im:Image.Image, keep:float) -> Image.Image:
    w, h = im.size; dw, dh = int(w * (1 - keep) / 2), int(h * (1 - keep) / 2)
    return im.crop((dw, dh, w - dw, h - dh))

FAULTS = {                       # each takes the photo as read (RGB, EXIF applied) and returns the faulty photo
    'none': lambda im: im,
    'brightness -50%': lambda im: ImageEnhance.Brightness(im).enhance(0.5),
    'Gaussian blur (radius 1% of the short side)': lambda im: im.filter(ImageFilter.GaussianBlur(0.01 * min(im.size))),
    'JPEG quality 35': lambda im: _jpeg(im, 35),
    'downscaled to 480 px': lambda im: im.resize((480, round(480 * im.height / im.width)) if im.width >= im.height
                                                 else (round(480 * im.width / im.height), 480), Image.LANCZOS),
    'rotated 90 degrees': lambda im: im.transpose(Image.Transpose.ROTATE_90),
    'centre crop (70% of each side)': lambda im: _crop(im, 0.7),
}


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument('--run', default=None); a.add_argument('--out', default=str(HERE/'benchmarks/results'))
    a.add_argument('--save', action='store_true', help="also write it into the run folder, for its model card")
    args = a.parse_args()
    run = as_run(args.run).check()
    cfg = run.config()
    test = dish_table(None, cfg.view, cfg.camera, cfg.frame, cfg.max_kcal)
    test = test[test.split == 'test'].reset_index(drop=True)
    p = Predictor.from_run(run)
    photos = [Image.fromarray(read_image(f)) for f in test.image]
    res = dict(started=datetime.now(timezone.utc).isoformat(timespec='seconds'), run=str(run.path), engine=p.engine,
               n_photos=len(photos), nominal=p.intervals.coverage if p.intervals else None, faults={})
    truth = test[TARGETS]
    for name, fault in FAULTS.items():
        preds = p.predict_batch([np.asarray(fault(im)) for im in photos])
        values = pd.DataFrame([x.values() for x in preds], columns=TARGETS)
        ranged = [x for x in preds if x.low is not None]
        inside = {t: float(np.mean([x.low[i] <= truth[t].iloc[k] <= x.high[i] for k, x in enumerate(preds) if x.low is not None]))
                  if ranged else None for i, t in enumerate(TARGETS)}
        res['faults'][name] = dict(mae_pct=mae_pct(values, truth), coverage_of_ranged=inside, n_ranged=len(ranged),
                                   flagged=float(np.mean([x.unlike_training for x in preds])))
        r = res['faults'][name]
        print(f"{name:44s} " + ' '.join(f"{t} {r['mae_pct'][t]:5.1f}%" for t in TARGETS)
              + " | coverage calories "
                f"{'-' if r['n_ranged'] == 0 else format(r['coverage_of_ranged']['calories'], '.0%')} | flagged "
                f"{r['flagged']:.0%}", flush=True)
    path = Path(args.out)/f"robustness-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.json"
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(json.dumps(res, indent=1))
    if args.save: run.robustness_file.write_text(json.dumps(res, indent=1))
    print(f"-> {path}" + (f" and {run.robustness_file}" if args.save else ''))


if __name__ == '__main__': main()
