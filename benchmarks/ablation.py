"""Grouped-CV ablation: a base params file and variants that each change a few parameters, all cross-validated on the
same folds (`nutrition_predictor.experiment.ablation`); the JSON goes to benchmarks/results/.

    python benchmarks/ablation.py benchmarks/ablation-physical-limits.yaml
"""
import argparse, json, platform, time
from pathlib import Path

import yaml

from nutrition_predictor.experiment import ablation
from nutrition_predictor.config import read_params


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('spec', help="YAML: base (a params file, relative to the spec), what (one line), variants (name -> changes)")
    p.add_argument('--out', default='benchmarks/results', help="folder for the JSON (default: benchmarks/results)")
    p.add_argument('--n-boot', type=int, default=1000, help="bootstrap resamples (default: 1000)")
    args = p.parse_args()
    spec_path = Path(args.spec)
    spec = yaml.safe_load(spec_path.read_text())
    base = read_params(spec_path.parent/spec['base'], spec.get('params'))
    res = ablation(base, spec['variants'], n_boot=args.n_boot)
    res = dict(what=spec['what'], spec=spec_path.name, machine=f"{platform.machine()}, {__import__('os').cpu_count()} cores, "
               f"{'CUDA' if __import__('torch').cuda.is_available() else 'CPU only'}", **res)
    out = Path(args.out)/f"ablation-{spec_path.stem.removeprefix('ablation-')}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    for name, r in res['results'].items():
        print(f"{name:32s} CV calories {r['cv']['pct']['calories']:5.1f}% mass {r['cv']['pct']['mass']:5.1f}%  "
              f"test calories {r['test']['pct']['calories']:5.1f}%  ({r['seconds']:.0f} s)")
    print(f"Written to {out}")


if __name__ == '__main__': main()
