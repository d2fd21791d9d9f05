"""How long the doors take to open: `nutrition-predictor --help`, `predict` on a shipped example photo, and the cold
start of `serve --no-ui` and of `serve` (until `/health` answers), each a fresh process: wall and CPU seconds and peak
resident memory, for one checkout or several measured in turn (interleaved, so a change in the machine's load falls on
all of them alike), in the current environment.

    python benchmarks/cli_startup.py                           # this checkout
    python benchmarks/cli_startup.py --against /tmp/before     # and another (e.g. a `git worktree` of the previous commit)

Writes `benchmarks/results/cli-startup-<time>-<commit>.json` with every run, the medians, the ratios to the first
checkout against, the commits, the load average and the machine."""
import argparse, json, os, platform, socket, statistics, subprocess, sys, tempfile, time, urllib.request
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
DOORS = ('help', 'predict', 'serve_no_ui', 'serve')


def timed(cmd:list, cwd:Path) -> dict:
    """Wall and CPU (user + sys) seconds and peak resident MiB of one run of `cmd` as a child process (`os.wait4`: this
    child's own)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):
            err.seek(0); raise RuntimeError(f"{cmd} failed: {err.read().decode()[-2000:]}")
    return dict(wall_s=wall, cpu_s=ru.ru_utime + ru.ru_stime, peak_mib=ru.ru_maxrss / 1024)


def served(cmd:list, cwd:Path, port:int, timeout:float=600) -> dict:
    "Wall and CPU seconds and peak resident MiB of a server from its start until `GET /health` answers 200, then it is stopped."
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None: raise RuntimeError(f"{cmd} ended with {proc.returncode}")
            try:
                if urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=2).status == 200: break
            except OSError: time.sleep(0.05)
        else: raise RuntimeError(f"{cmd} did not answer in {timeout} s")
        wall = time.perf_counter() - t0
        stat = Path(f'/proc/{proc.pid}/stat').read_text().rsplit(')', 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / os.sysconf('SC_CLK_TCK')          # utime + stime of the server process
        hwm = next(l for l in Path(f'/proc/{proc.pid}/status').read_text().splitlines() if l.startswith('VmHWM:'))
        rss = int(hwm.split()[1]) / 1024                                           # its peak resident memory so far
    finally: proc.terminate(); proc.wait(30)
    return dict(wall_s=wall, cpu_s=cpu, peak_mib=rss)


def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def call(repo:Path, argv:list) -> list:
    "`nutrition_predictor.cli.main(argv)` through `python -c` with `repo` first on the path (its package, this environment)."
    return [sys.executable, '-c', f"import sys; sys.path.insert(0, {str(repo)!r}); from nutrition_predictor.cli "
                                  f"import main; sys.exit(main({argv!r}))"]


def measure(repos:list, runs:int) -> dict:
    "For each door, every repo's runs, interleaved (one run of each repo in turn), after one warm-up each (the file cache)."
    example = HERE/'nutrition_predictor/pretrained/examples/dish_1561574479.jpg'
    out = {}
    doors = dict(help=(['--help'], timed), predict=(['predict', str(example)], timed),
                 serve_no_ui=(['serve', '--no-ui'], None), serve=(['serve'], None))
    for name, (argv, how) in doors.items():
        def once(repo):
            if how: return how(call(repo, argv), repo)
            port = free_port()
            return served(call(repo, [*argv, '--port', str(port)]), repo, port)
        for repo in repos: once(repo)
        rs = {str(repo): [] for repo in repos}
        for _ in range(runs):
            for repo in repos: rs[str(repo)].append(once(repo))
        out[name] = {repo: dict(runs=r,
                                **{f'median_{k}': statistics.median(x[k] for x in r) for k in ('cpu_s', 'wall_s', 'peak_mib')})
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
                                                      for k in ('cpu_s', 'wall_s', 'peak_mib')} for door in DOORS}
    path = Path(a.out)/f"cli-startup-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{mine}.json"
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(json.dumps(res, indent=1))
    for repo in map(str, repos):
        print(f"{res['commits'][repo]:>16}: " + '; '.join(f"{d} {res[d][repo]['median_cpu_s']:.2f} s CPU, "
                                                          f"{res[d][repo]['median_wall_s']:.2f} s wall, "
                                                        f"{res[d][repo]['median_peak_mib']:.0f} MiB" for d in DOORS))
    for other, r in res.get('ratios', {}).items():
        one = lambda d: f"{d} CPU {r[d]['cpu_s']:.2f}, wall {r[d]['wall_s']:.2f}, memory {r[d]['peak_mib']:.2f}"
        print(f"{mine} / {res['commits'][other]}: " + '; '.join(one(d) for d in DOORS))
    print(f"-> {path}")
