"""Load test of `nutrition-predictor serve` with locust: headless, on loopback only, bounded in time, stops by itself.

    python benchmarks/load_test.py --run runs/offline [--users 1,8,16,32] [--ui-users 8] [--seconds 20]

It measures `Predictor.predict_batch` over the test split's photos first (images/s, in a separate process), then
starts the server (`nutrition-predictor serve`, REST API and the demo) and runs, one after the other, N locust users
that each send one photo per request to `/v1/predict` with no pause, and N users going through the demo's own API
(upload, call, event stream: what the page does). Results JSON (requests/s, images/s, p50/p95/p99, failures, and each
scenario's images/s as a share of `predict_batch`'s) go to `benchmarks/results/load-<UTC time>-<device>.json`.
The load generator runs on the same machine as the server, so on a small CPU it takes a share of what it measures.
"""
from gevent import monkey
monkey.patch_all()

import argparse, json, os, platform, random, socket, subprocess, sys, time
from datetime import datetime, timezone
from pathlib import Path

import gevent
from locust import HttpUser, constant, task
from locust.env import Environment

PHOTOS: list[Path] = []


class ApiUser(HttpUser):
    "A program: one photo per request to the REST API, no pause."
    wait_time = constant(0)

    @task
    def predict(self):
        p = random.choice(PHOTOS)
        with self.client.post('/v1/predict', files={'file': (p.name, p.read_bytes(), 'image/jpeg')}, name='/v1/predict',
                              catch_response=True) as r:
            if r.status_code != 200 or 'calories_kcal' not in r.text: r.failure(f"{r.status_code}: {r.text[:200]}")


class UiUser(HttpUser):
    "A person on the page: the demo's API as the browser calls it (upload, call, then the result's event stream)."
    wait_time = constant(0)

    @task
    def predict(self):
        p = random.choice(PHOTOS)
        t0, exc = time.perf_counter(), None
        try:
            up = self.client.post('/gradio_api/upload', files={'files': (p.name, p.read_bytes(), 'image/jpeg')},
                                  name='(ui upload)')
            path = up.json()[0]
            call = self.client.post('/gradio_api/call/predict',
                                    json={'data': [{'path': path, 'meta': {'_type': 'gradio.FileData'}}, None]},
                                    name='(ui call)')
            stream = self.client.get(f"/gradio_api/call/predict/{call.json()['event_id']}", name='(ui result)')
            if 'event: complete' not in stream.text or 'calories_kcal' not in stream.text: raise RuntimeError(stream.text[:200])
        except Exception as e: exc = e
        self.environment.events.request.fire(request_type='UI', name='demo predict',
                                             response_time=1000 * (time.perf_counter() - t0),
                                             response_length=0, exception=exc, context={})


def predict_batch_rate(run:str, photos:list, reps:int=3) -> dict:
    "`Predictor.predict_batch` images/s over `photos`, median of `reps`, in its own process (no gevent there)."
    code = ("import json, statistics, sys, time\nfrom nutrition_predictor.predict import Predictor\n"
            "p = Predictor.from_run(sys.argv[1]); photos = json.loads(sys.argv[2]); p.predict_batch(photos[:8])\n"
            "ts = []\nfor _ in range(int(sys.argv[3])):\n"
            "    t0 = time.perf_counter(); p.predict_batch(photos); ts.append(time.perf_counter() - t0)\n"
            "print(json.dumps(dict(images=len(photos), median_s=statistics.median(ts), images_per_s=len(photos) / "
            "statistics.median(ts), batch_size=p.default_bs())))")
    r = subprocess.run([sys.executable, '-c', code, run, json.dumps([str(p) for p in photos]), str(reps)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def run_scenario(user_class, host:str, users:int, seconds:float) -> dict:
    "Run `users` locust users against `host` for `seconds`; the totals and percentiles of every request type."
    env = Environment(user_classes=[user_class], host=host)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(seconds)
    runner.quit()
    total = env.stats.get('demo predict', 'UI') if user_class is UiUser else env.stats.total
    q = lambda f: total.get_response_time_percentile(f) / 1000
    n_ok = total.num_requests - total.num_failures
    return dict(users=users, seconds=seconds, requests=total.num_requests, failures=total.num_failures,
                requests_per_s=n_ok / seconds, images_per_s=n_ok / seconds, p50_s=q(0.5), p95_s=q(0.95), p99_s=q(0.99),
                errors=[str(e.error)[:200] for e in list(env.stats.errors.values())[:3]])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--run', default='runs/offline', help="run folder to serve (default: runs/offline)")
    ap.add_argument('--users', default='1,8,16,32', help="REST API users per scenario (default: 1,8,16,32)")
    ap.add_argument('--ui-users', default='8', help="demo API users per scenario (default: 8)")
    ap.add_argument('--seconds', type=float, default=20, help="length of each scenario (default: 20)")
    ap.add_argument('--out', default='benchmarks/results', help="folder for the JSON (default: benchmarks/results)")
    args = ap.parse_args()
    from nutrition_predictor.runs import RunFolder
    from nutrition_predictor.config import config_dishes
    cfg = RunFolder(args.run).params()
    dishes = config_dishes(cfg)
    PHOTOS.extend(Path(p) for p in dishes.image[dishes.split == 'test'])
    started = datetime.now(timezone.utc)
    res = dict(started=started.isoformat(timespec='seconds'), run=str(Path(args.run).resolve()), photos=len(PHOTOS),
               machine=dict(cpu_count=os.cpu_count(), python=platform.python_version()),
               predict_batch=predict_batch_rate(args.run, PHOTOS))
    print(f"predict_batch: {res['predict_batch']['images_per_s']:.1f} images/s", flush=True)
    port = _free_port()
    cli = str(Path(sys.executable).parent/'nutrition-predictor')
    server = subprocess.Popen([cli, 'serve', '--run', args.run, '--host', '127.0.0.1', '--port', str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    host = f'http://127.0.0.1:{port}'
    try:
        import urllib.request
        for _ in range(600):
            try:
                res['health'] = json.loads(urllib.request.urlopen(f'{host}/health', timeout=1).read()); break
            except OSError: time.sleep(0.2)
        else: raise RuntimeError(f"the server did not start: {server.stderr.read().decode()[-2000:]}")
        res['api'], res['ui'] = [], []
        for kind, user_class, counts in (('api', ApiUser, args.users), ('ui', UiUser, args.ui_users)):
            for n in map(int, counts.split(',')):
                s = run_scenario(user_class, host, n, args.seconds)
                s['vs_predict_batch'] = s['images_per_s'] / res['predict_batch']['images_per_s']
                res[kind].append(s)
                print(f"{kind} {n:>3} users: {s['requests_per_s']:6.1f} req/s, p50 {s['p50_s']:.2f}s p95 {s['p95_s']:.2f}s "
                      f"p99 {s['p99_s']:.2f}s, {s['failures']} failed, {100 * s['vs_predict_batch']:.0f}% of predict_batch",
                      flush=True)
    finally:
        server.terminate(); server.wait(30)
    res['seconds'] = (datetime.now(timezone.utc) - started).total_seconds()
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    path = out/f"load-{started:%Y%m%d-%H%M%S}-cpu.json"
    path.write_text(json.dumps(res, indent=2))
    print(f"Results written to {path}")


if __name__ == '__main__': main()
