"""The kernel head at scale: the time of its search and fit (`train.fit_kernel_head`, as `fit_closed_heads` calls it:
grouped 4-fold search of `KERNEL_ALPHAS` x `KERNEL_WIDTHS`, then the fit on every row) and the bytes it ships, at
826 rows (the sample's training dishes), 3,304 and 50,000, on synthetic projected features of the shipped model's
width (128) with five smooth targets and noise (no images needed). Up to `--exact-max` rows it also times kernel ridge
on every row (the head before `config.KERNEL_SUPPORT`), and compares the two heads' MAE on 2,000 held-out rows.

    python benchmarks/kernel_head.py

Writes `benchmarks/results/kernel-head-<time>.json` (with the load average: the machine may be shared)."""
import argparse, json, os, platform, time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold

from nutrition_predictor.config import KERNEL_SUPPORT
from nutrition_predictor.train import fit_kernel_head, rbf_kernel

HERE = Path(__file__).resolve().parents[1]


def rows(n:int, k:int=128, seed:int=0) -> tuple[np.ndarray, np.ndarray]:
    """`n` synthetic rows `[n, k]` (standardised features' projections: decreasing variance) and five smooth targets `[n,
    5]` with noise."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * np.linspace(2, 0.2, k)
    w = rng.normal(size=(k, 5)) / np.sqrt(k)
    y = np.tanh(z @ w) + 0.5 * np.sin(z[:, :5]) + 0.1 * rng.normal(size=(n, 5))
    return z, y - y.mean(0)


def timed_fit(z, y, n_support:int, held:tuple) -> dict:
    "Fit time, shipped bytes (support and coefficients as float32) and held-out MAE of the kernel head with `n_support` points."
    folds = list(GroupKFold(4).split(z, y, np.arange(len(z)) // 2))       # pairs of rows kept together, as near-copies are
    t0, c0 = time.perf_counter(), time.process_time()
    params, support, dual = fit_kernel_head(z, y, folds, n_support, 42)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    mae = float(np.abs(rbf_kernel(held[0], support, params['gamma']) @ dual - held[1]).mean())
    return dict(n_support=len(support), wall_s=wall, cpu_s=cpu, shipped_bytes=4 * (support.size + dual.size),
                held_out_mae=mae, params=params)


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument('--sizes', default='826,3304,50000'); a.add_argument('--exact-max', type=int, default=3304)
    a.add_argument('--out', default=str(HERE/'benchmarks/results'))
    args = a.parse_args()
    res = dict(started=datetime.now(timezone.utc).isoformat(timespec='seconds'), kernel_support=KERNEL_SUPPORT,
               cpu_count=os.cpu_count(),
               machine=platform.processor() or platform.machine(), loadavg_before=os.getloadavg(), sizes={})
    for n in map(int, args.sizes.split(',')):
        z, y = rows(n + 2000)
        fit, held = (z[:n], y[:n]), (z[n:], y[n:])
        r = dict(bounded=timed_fit(*fit, min(n, KERNEL_SUPPORT), held))
        if n <= args.exact_max and n > KERNEL_SUPPORT: r['every_row'] = timed_fit(*fit, n, held)
        res['sizes'][n] = r
        print(n, {k: {m: v[m] for m in ('n_support', 'wall_s', 'shipped_bytes', 'held_out_mae')} for k,
                  v in r.items()}, flush=True)
    res['loadavg_after'] = os.getloadavg()
    path = Path(args.out)/f"kernel-head-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.json"
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(json.dumps(res, indent=1))
    print(f"-> {path}")


if __name__ == '__main__': main()
