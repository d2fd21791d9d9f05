"""How long the doors take to open: `nutrition-predictor --help` (CPU seconds) and `predict` on a shipped example photo
(wall seconds), each a fresh process, for the checkout at `--repo` (default: this one), in the current environment.

    python benchmarks/cli_startup.py                         # this checkout
    python benchmarks/cli_startup.py --repo /tmp/before      # another checkout (e.g. a `git worktree` of an older commit)

Writes `benchmarks/results/cli-startup-<time>.json` with every run, the medians, the commit and the machine."""
import argparse, json, os, platform, resource, statistics, subprocess, sys, time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def timed(cmd:list, cwd:Path) -> dict:
    "Wall and CPU (user + sys) seconds of one run of `cmd` as a child process."
    before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode not in (0, 1): raise RuntimeError(f"{cmd} failed: {r.stderr[-2000:]}")
    return dict(wall_s=wall, cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def measure(repo:Path, runs:int) -> dict:
    "`--help` and `predict <example>` through `python -c` with `repo` first on the path (its package, this environment)."
    example = repo/'nutrition_predictor/pretrained/examples/dish_1561574479.jpg'
    call = lambda argv: [sys.executable, '-c', f"import sys; sys.path.insert(0, {str(repo)!r}); "
                                               f"from nutrition_predictor.cli import main; sys.exit(main({argv!r}))"]
    out = {}
    for name, argv in (('help', ['--help']), ('predict', ['predict', str(example)])):
        timed(call(argv), repo)                                            # warm-up: the file cache
        rs = [timed(call(argv), repo) for _ in range(runs)]
        out[name] = dict(runs=rs, median_cpu_s=statistics.median(r['cpu_s'] for r in rs),
                         median_wall_s=statistics.median(r['wall_s'] for r in rs))
    return out


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repo', default=str(HERE)); p.add_argument('--runs', type=int, default=5)
    p.add_argument('--out', default=str(HERE/'benchmarks/results'))
    a = p.parse_args()
    repo = Path(a.repo).resolve()
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=repo, capture_output=True, text=True).stdout.strip()
    res = dict(started=datetime.now(timezone.utc).isoformat(timespec='seconds'), repo_commit=commit, cpu_count=os.cpu_count(),
               python=platform.python_version(), **measure(repo, a.runs))
    path = Path(a.out)/f"cli-startup-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{commit}.json"
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(json.dumps(res, indent=1))
    print(f"--help: {res['help']['median_cpu_s']:.2f} s CPU; predict: {res['predict']['median_wall_s']:.2f} s wall -> {path}")
