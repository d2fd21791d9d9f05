"""Threads that hold under load: the wall time of one prediction (the shipped model, one example photo, end to end) on
each engine, on a quiet machine and with a CPU hog on every usable core, for this checkout's thread policy
(`images.compute_threads`: as many threads as usable CPUs, which wait briefly, `images.WAIT_POLICY`), for the same on one thread
(`NUTRITION_PREDICTOR_THREADS=1`), and for another checkout's defaults (`--before`, e.g. a `git worktree` of the
previous commit). Each measurement is a fresh process (the thread settings are read at start), one after the other in
rounds, so the machine's drift falls on all alike.

    python benchmarks/threads_under_load.py --before /tmp/prev

Writes `benchmarks/results/threads-under-load-<time>-<commit>.json`: every process's timings, the medians, and the
ratios the policy is held to (loaded: policy / one thread; quiet: policy / before)."""
import argparse, json, multiprocessing as mp, os, platform, statistics, subprocess, sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
RUN, PHOTO = HERE/'nutrition_predictor/pretrained', HERE/'nutrition_predictor/pretrained/examples/dish_1561574479.jpg'
CHILD = """import json, sys, time
sys.path.insert(0, sys.argv[1])
from nutrition_predictor.predict import Predictor
p = Predictor.from_run(sys.argv[2], engine=sys.argv[3], device='cpu')
p.predict(sys.argv[4])                                          # warm-up
ts = []
for _ in range(int(sys.argv[5])):
    t = time.perf_counter(); p.predict(sys.argv[4]); ts.append(time.perf_counter() - t)
print(json.dumps(ts))"""
CLEAN = ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'OMP_NUM_THREADS', 'NUTRITION_PREDICTOR_THREADS')


def hog():
    while True: pass


def one(repo:Path, engine:str, reps:int, **env) -> list:
    "Wall seconds of `reps` predictions in a fresh process running `repo`'s code with `env` over a clean environment."
    e = {k: v for k, v in os.environ.items() if k not in CLEAN} | env
    r = subprocess.run([sys.executable, '-c', CHILD, str(repo), str(RUN), engine, str(PHOTO), str(reps)],
                       capture_output=True, text=True, env=e)
    if r.returncode: raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.splitlines()[-1])


def commit(repo:Path) -> str:
    return subprocess.run(['git', 'describe', '--always', '--dirty'], cwd=repo, capture_output=True, text=True).stdout.strip()


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument('--before', required=True)
    a.add_argument('--rounds', type=int, default=3)
    a.add_argument('--reps', type=int, default=3)
    a.add_argument('--out', default=str(HERE/'benchmarks/results'))
    args = a.parse_args()
    before = Path(args.before).resolve()
    sys.path.insert(0, str(HERE))
    from nutrition_predictor.images import usable_cpus
    n_hogs = usable_cpus()
    variants = dict(policy=(HERE, {}), one_thread=(HERE, {'NUTRITION_PREDICTOR_THREADS': '1'}), before=(before, {}))
    runs = {load: {eng: {v: [] for v in variants} for eng in ('torch', 'onnx')} for load in ('quiet', 'loaded')}
    loads = {}
    for _ in range(args.rounds):
        for load in ('quiet', 'loaded'):
            hogs = [mp.Process(target=hog, daemon=True) for _ in range(n_hogs if load == 'loaded' else 0)]
            for h in hogs: h.start()
            try:
                for eng in ('torch', 'onnx'):
                    for v, (repo, env) in variants.items(): runs[load][eng][v] += one(repo, eng, args.reps, **env)
                loads.setdefault(load, []).append(os.getloadavg()[0])
            finally:
                for h in hogs: h.terminate(); h.join()
    med = {load: {eng: {v: statistics.median(ts) for v, ts in vs.items()} for eng, vs in es.items()} for load, es in runs.items()}
    ratios = {eng: dict(loaded_policy_vs_one_thread=med['loaded'][eng]['policy'] / med['loaded'][eng]['one_thread'],
                        loaded_before_vs_one_thread=med['loaded'][eng]['before'] / med['loaded'][eng]['one_thread'],
                        quiet_policy_vs_before=med['quiet'][eng]['policy'] / med['quiet'][eng]['before'])
                        for eng in ('torch', 'onnx')}
    res = dict(started=datetime.now(timezone.utc).isoformat(timespec='seconds'), commit=commit(HERE), before=commit(before),
               usable_cpus=n_hogs, hogs=n_hogs, cpu_count=os.cpu_count(), machine=platform.processor() or platform.machine(),
               loadavg_1min=loads, median_s=med, ratios=ratios, runs=runs)
    path = Path(args.out)/f"threads-under-load-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{res['commit']}.json"
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(json.dumps(res, indent=1))
    for eng in ('torch', 'onnx'):
        m, r = med, ratios[eng]
        print(f"{eng:5s} quiet: policy {m['quiet'][eng]['policy']:.3f} s, one thread "
              f"{m['quiet'][eng]['one_thread']:.3f} s, before {m['quiet'][eng]['before']:.3f} s | "
              f"loaded: policy {m['loaded'][eng]['policy']:.3f} s, one thread {m['loaded'][eng]['one_thread']:.3f} s, "
              f"before {m['loaded'][eng]['before']:.3f} s | "
              f"loaded policy/one thread {r['loaded_policy_vs_one_thread']:.2f} (before "
              f"{r['loaded_before_vs_one_thread']:.2f}), quiet policy/before {r['quiet_policy_vs_before']:.2f}")
    print(f"-> {path}")


if __name__ == '__main__': main()
