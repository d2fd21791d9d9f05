"""How long the doors take to open: `nutrition-predictor --help` and `predict` on a shipped example photo, each a fresh
process: wall and CPU seconds and peak resident memory, for one checkout or several measured in turn (interleaved, so
a change in the machine's load falls on all of them alike), in the current environment.

    python benchmarks/cli_startup.py                           # this checkout
    python benchmarks/cli_startup.py --against /tmp/before     # and another (e.g. a `git worktree` of the previous commit)

Writes `benchmarks/results/cli-startup-<time>-<commit>.json` with every run, the medians, the ratios to the first
checkout against, the commits, the load average and the machine."""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def timed(cmd:list, cwd:Path) -> dict:
    "Wall and CPU (user + sys) seconds and peak resident MiB of one run of `cmd` as a child process (`os.wait4`: this child's own)."
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):
            err.seek(0); raise RuntimeError(f"{cmd} failed: {err.read().decode()[-2000:]}")
    return dict(wall_s=wall, cpu_s=ru.ru_utime + ru.ru_stime, peak_mib=ru.ru_maxrss / 1024)


def call(repo:Path, argv:list) -> list:
    "`nutrition_predictor.cli.main(argv)` through `python -c` with `repo` first on the path (its package, this environment)."
    return [sys.executable, '-c', f"import sys; sys.path.insert(0, {str(repo)!r}); from nutrition_predictor.cli import main; sys.exit(main({argv!r}))"]


def measure(repos:list, runs:int) -> dict:
    "For each door, every repo's runs, interleaved (one run of each repo in turn), after one warm-up each (the file cache)."
    example = HERE/'nutrition_predictor/pretrained/examples/dish_1561574479.jpg'
    out = {}
    for name, argv in (('help', ['--help']), ('predict', ['predict', str(example)])):
        for repo in repos: timed(call(repo, argv), repo)
        rs = {str(repo): [] for repo in repos}
        for _ in range(runs):
            for repo in repos: rs[str(repo)].append(timed(call(repo, argv), repo))
        out[name] = {repo: dict(runs=r, **{f'median_{k}': statistics.median(x[k] for x in r) for k in ('cpu_s', 'wall_s', 'peak_mib')})
                     for repo, r in rs.items()}
    return out


def commit(repo:Path) -> str:
    r = subprocess.run(['git', 'describe', '--always', '--dirty'], cwd=repo, capture_output=True, text=True)
    return r.stdout.strip()


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repo', default=str(HERE)); p.add_argument('--against', action='append', default=[])
    p.add_argument('--runs', type=int, default=5); p.add_argument('--out', default=str(HERE/'benchmarks/results'))
    a = p.parse_args()
    repos = [Path(r).resolve() for r in [a.repo, *a.against]]
    load_before = os.getloadavg()
    res = dict(started=datetime.now(timezone.utc).isoformat(timespec='seconds'), commits={str(r): commit(r) for r in repos},
               cpu_count=os.cpu_count(), usable_cpus=len(os.sched_getaffinity(0)), python=platform.python_version(),
               machine=platform.processor() or platform.machine(), **measure(repos, a.runs))
    res['loadavg'] = dict(before=load_before, after=os.getloadavg())
    first, mine = str(repos[0]), commit(repos[0])
    for other in map(str, repos[1:]):
        res.setdefault('ratios', {})[other] = {door: {k: res[door][first][f'median_{k}'] / res[door][other][f'median_{k}']
                                                      for k in ('cpu_s', 'wall_s', 'peak_mib')} for door in ('help', 'predict')}
    path = Path(a.out)/f"cli-startup-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{mine}.json"
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(json.dumps(res, indent=1))
    for repo in map(str, repos):
        h, q = res['help'][repo], res['predict'][repo]
        print(f"{res['commits'][repo]:>16}: --help {h['median_cpu_s']:.2f} s CPU; predict {q['median_cpu_s']:.2f} s CPU, "
              f"{q['median_wall_s']:.2f} s wall, {q['median_peak_mib']:.0f} MiB peak")
    for other, r in res.get('ratios', {}).items():
        print(f"{mine} / {res['commits'][other]}: predict CPU {r['predict']['cpu_s']:.2f}, peak memory {r['predict']['peak_mib']:.2f}")
    print(f"-> {path}")
