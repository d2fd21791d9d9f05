"""The feature cache at the scale of the full side videos: 400,000 vectors of the shipped model's length (random values; no
images needed) written to and read back from the sharded store (`feature_cache.FeatureCache`), and from the one-file-per-
vector layout it replaced (`torch.save` of the vector, its key and its sha256, one file each, as the cache wrote before
shards; read back with `torch.load` and its checksum checked, as it was read). Both in one run, on the same disk, each read
right after its write, as a rerun finds a cache the machine has read before (with --cold the page cache is dropped before
each read: that measures the disk, which both layouts then wait on; this machine's disk slows down after gigabytes of
writes). The CPU seconds are what the layout costs, whatever the disk.

    python benchmarks/feature_cache.py                     # 400,000 vectors: about 23 GB of disk while it runs
    python benchmarks/feature_cache.py --n 20000           # a smaller run
    python benchmarks/feature_cache.py --build 48          # also: building the cache of 48 sample photos with the
                                                           # shipped model's backbones, as `train` does (NUTRITION5K_DIR)

Writes `benchmarks/results/feature-cache-<time>.json`: for each store the write and read wall and CPU seconds, vectors/s,
bytes on disk and file count, and the read speed-up (with the load average: the machine may be shared). The stores are
written under --dir (default: a temporary folder) and removed at the end."""
import argparse, hashlib, json, os, platform, shutil, subprocess, tempfile, time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from fastprogress.fastprogress import progress_bar

from nutrition_predictor.feature_cache import FeatureCache
from nutrition_predictor.runs import pretrained_run

FULL_FRAMES = 400_000            # the paper's protocol on the full release: every 5th frame of 4 side cameras, 5,006 dishes

HERE = Path(__file__).resolve().parents[1]
CHUNK = 8192                     # vectors made (and read back) at a time: memory stays bounded


def shipped_length() -> int:
    "The shipped model's feature-vector length (every backbone and stage pooled)."
    r = pretrained_run()
    return sum(n for _, n in r.params().model_config(torch.zeros(5), torch.ones(5)).feature_groups())


def key_chunks(n:int, seed:int=0):
    "The keys of vectors 0..n, `CHUNK` at a time."
    for start in range(0, n, CHUNK):
        yield [hashlib.sha256(f'{seed}-{i}'.encode()).hexdigest() for i in range(start, min(n, start + CHUNK))]

def chunks(n:int, length:int, seed:int=0):
    "`(keys, vectors [m, length] float32)` for vectors 0..n, `CHUNK` at a time, the same on every call."
    for start, keys in zip(range(0, n, CHUNK), key_chunks(n, seed)):
        yield keys, np.random.default_rng([seed, start]).standard_normal((len(keys), length), np.float32)


def per_file_path(root:Path, key:str) -> Path: return root/key[:2]/f'{key}.pt'

def per_file_write(root:Path, keys, vectors):
    for k, v in zip(keys, vectors):
        p = per_file_path(root, k); p.parent.mkdir(parents=True, exist_ok=True)
        f = torch.from_numpy(v.copy())
        torch.save({'key': k, 'features': f, 'sha256': hashlib.sha256(f.numpy().tobytes()).hexdigest()}, p)

def per_file_read(root:Path, keys, length:int) -> int:
    ok = 0
    for k in keys:
        d = torch.load(per_file_path(root, k), map_location='cpu', weights_only=True)
        f = d['features']
        ok += d['key'] == k and f.shape == (length,) and d['sha256'] == hashlib.sha256(f.numpy().tobytes()).hexdigest()
    return ok


def sharded_write(root:Path, batches):
    c = FeatureCache(root)
    for keys, vectors in batches:
        for k, v in zip(keys, vectors): c.save(k, v)
    c.flush()

def sharded_read(root:Path, batches, length:int) -> int:
    c = FeatureCache(root)                                   # a fresh process's view: the index built from the shards' headers
    return sum(v is not None for keys in batches for v in c.load_many(keys, length))


STORES = dict(sharded=(sharded_write, sharded_read),
              per_file=(lambda root, batches: [per_file_write(root/'features', k, v) for k, v in batches],
                        lambda root, batches, length: sum(per_file_read(root/'features', k, length) for k in batches)))


def drop_page_cache() -> bool:
    "Drop the kernel's page cache (root only), so that the next read comes from the disk; whether it could."
    try:
        os.sync(); Path('/proc/sys/vm/drop_caches').write_text('3\n'); return True
    except OSError: return False


def on_disk(root:Path) -> dict:
    files = [p for p in root.rglob('*') if p.is_file()]
    return dict(files=len(files), bytes=sum(p.stat().st_size for p in files),
                disk_bytes=sum(p.stat().st_blocks * 512 for p in files))


def timed(fn) -> tuple[dict, object]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return dict(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0), out


def run(n:int, length:int, where:Path, cold:bool=False) -> dict:
    stores = {}
    for name, (write, read) in STORES.items():
        root = where/name
        w, _ = timed(lambda: write(root, progress_bar(chunks(n, length), total=-(-n // CHUNK), leave=False)))
        dropped = cold and drop_page_cache()
        r, found = timed(lambda: read(root, progress_bar(key_chunks(n), total=-(-n // CHUNK), leave=False), length))
        assert found == n, f"{name}: read back {found} of {n} vectors"
        stores[name] = dict(write=dict(**w, vectors_per_s=n / w['wall_s']), read=dict(**r, vectors_per_s=n / r['wall_s']),
                            page_cache_dropped_before_read=dropped, **on_disk(root))
        print(f"{name}: write {w['wall_s']:.1f} s, read {r['wall_s']:.1f} s, {stores[name]['files']} files, "
              f"{stores[name]['disk_bytes'] / 1e9:.2f} GB", flush=True)
        shutil.rmtree(root)
    return stores


def build_rate(n:int, reps:int=2) -> dict:
    """Build the cache of `n` sample photos (test split, a fresh cache each time) with the shipped model's frozen backbones, as
    `train` does, on torch and on onnxruntime in turn (`reps` each, interleaved); the ONNX export, once, timed apart."""
    from fastai.torch_core import default_device
    from nutrition_predictor.config import config_dishes
    from nutrition_predictor.features import OnnxExtractor, _cache_kw, cached_features
    from nutrition_predictor.model import NutritionRegressor
    cfg = pretrained_run().params()
    table = config_dishes(cfg)                                   # its data_dir is unset: NUTRITION5K_DIR
    table = table[table.split == 'test'].head(n)
    model = NutritionRegressor(cfg.model_config(torch.zeros(5), torch.ones(5)), cfg.pretrained, cfg.weights_path)
    device, runs = default_device(), {'torch': [], 'auto': []}
    with tempfile.TemporaryDirectory() as onnx_cache:
        export, _ = timed(lambda: [OnnxExtractor(b, cfg.img_size, Path(onnx_cache)/'onnx') for b in model.backbone.bodies])
        for _ in range(reps):
            for engine in runs:
                with tempfile.TemporaryDirectory() as d:
                    (Path(d)/'onnx').symlink_to(Path(onnx_cache)/'onnx')       # fresh vectors, the exported backbones kept
                    cache = FeatureCache(d)
                    t, (_, counts) = timed(lambda: cached_features(model, table, cache, engine=engine, **_cache_kw(cfg, device)))
                    assert counts['computed'] == len(table) * len(model.backbone.bodies), counts
                    runs[engine].append(dict(**t, cpu_ms_per_image=1000 * t['cpu_s'] / len(table),
                                             wall_ms_per_image=1000 * t['wall_s'] / len(table)))
    med = {e: {k: float(np.median([r[k] for r in rs])) for k in ('cpu_ms_per_image', 'wall_ms_per_image')} for e,
           rs in runs.items()}
    return dict(images=len(table), device=str(device), backbones=list(cfg.backbone), img_size=cfg.img_size,
                onnx_export_once=export,
                runs=runs, median=med,
                cpu_ratio_onnx_over_torch=med['auto']['cpu_ms_per_image'] / med['torch']['cpu_ms_per_image'],
                full_dataset_hours={e: FULL_FRAMES * m['wall_ms_per_image'] / 3.6e6 for e, m in med.items()})


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--n', type=int, default=400_000, help="vectors (default: 400,000, the full side videos' frames)")
    p.add_argument('--dir', default=None, help="where the two stores are written (default: a temporary folder)")
    p.add_argument('--cold', action='store_true',
                   help="drop the page cache before each read (root): the disk's speed, not the layout's")
    p.add_argument('--build', type=int, default=0, help="also time building the cache of this many sample photos")
    p.add_argument('--out', default=str(HERE/'benchmarks/results'))
    a = p.parse_args()
    length = shipped_length()
    started = datetime.now(timezone.utc)
    where = Path(tempfile.mkdtemp(prefix='feature-cache-bench-', dir=a.dir))
    try: stores = run(a.n, length, where, a.cold)
    finally: shutil.rmtree(where, ignore_errors=True)
    s, f = stores['sharded'], stores['per_file']
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=HERE).stdout.strip()
    res = dict(started=started.isoformat(timespec='seconds'), commit=commit, n_vectors=a.n, vector_length=length,
               machine=dict(cpus=os.cpu_count(), platform=platform.platform(), load_average=os.getloadavg()),
               stores=stores, read_speedup=f['read']['wall_s'] / s['read']['wall_s'],
               write_speedup=f['write']['wall_s'] / s['write']['wall_s'], file_ratio=f['files'] / s['files'])
    if a.build: res['build'] = build_rate(a.build)
    if a.build: print(f"cache build: onnxruntime {res['build']['cpu_ratio_onnx_over_torch']:.2f}x torch's CPU an image")
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    path = out/f'feature-cache-{started:%Y%m%d-%H%M%S}.json'
    path.write_text(json.dumps(res, indent=1))
    print(f"read {res['read_speedup']:.1f}x faster, write {res['write_speedup']:.1f}x, {s['files']} files against "
          f"{f['files']}: {path}")


if __name__ == '__main__': main()
