"The downloader against a local HTTP server that serves the sample in the official layout, with faults switched on."
import functools, signal, subprocess, threading, time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import CLI
from nutrition_predictor.config import TrainConfig, config_dishes
from nutrition_predictor.download import LABEL_FILES, MANIFEST, download, read_manifest, verify


class FaultyHandler(SimpleHTTPRequestHandler):
    """Serves a folder; paths in `fail_once` get a 500 the first time, `cut` paths drop the connection mid-file, `gone` 404;
    `cut_unsized` drop it mid-file without a Content-Length, `html` get a 200 with an HTML page; `delay` seconds per file."""
    fail_once, cut, gone, seen, cut_unsized, html, delay = set(), set(), set(), set(), set(), set(), 0.
    def log_message(self, *args): pass
    def do_GET(self):
        rel = self.path.lstrip('/')
        if self.delay and not rel.endswith('.sha256'): time.sleep(self.delay)
        if rel in self.gone: return self.send_error(404)
        if rel in self.fail_once and rel not in self.seen:
            self.seen.add(rel); return self.send_error(500)
        if rel in self.html:
            page = b'<!doctype html><html><body>Please sign in to the network</body></html>'
            self.send_response(200)
            self.send_header('Content-Type', 'text/html')
            self.send_header('Content-Length', str(len(page)))
            self.end_headers(); self.wfile.write(page); return
        if rel in self.cut or rel in self.cut_unsized:
            body = (Path(self.directory)/rel).read_bytes()
            self.send_response(200)
            if rel in self.cut: self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body)//2]); self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(n5k_root):
    FaultyHandler.fail_once, FaultyHandler.cut, FaultyHandler.gone, FaultyHandler.seen = set(), set(), set(), set()
    FaultyHandler.cut_unsized, FaultyHandler.html, FaultyHandler.delay = set(), set(), 0.
    srv = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(FaultyHandler, directory=str(n5k_root)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_port}/'
    srv.shutdown()


def _overhead(n5k_root, split='test'):
    t = config_dishes(TrainConfig(data_dir=str(n5k_root), view='overhead'))
    return [p.relative_to(n5k_root).as_posix() for p in t.image[t.split == split]]


def test_download_matches_the_source_and_resumes(server, n5k_root, tmp_path):
    dest, n = tmp_path/'n5k', len(_overhead(n5k_root))
    s = download(dest, server, views=('overhead',), splits=('rgb_test',), backoff=0.01)
    assert len(s.complete) == n and not s.failed
    source = read_manifest(n5k_root/MANIFEST)
    got = read_manifest(dest/MANIFEST)
    assert got and all(source[rel] == d for rel, d in got.items())      # byte for byte what the server has
    assert config_dishes(TrainConfig(data_dir=str(dest), view='overhead')).split.value_counts().to_dict() == {'test': n}
    again = download(dest, server, views=('overhead',), splits=('rgb_test',), backoff=0.01)
    assert again.fetched == 0 and again.skipped == len(LABEL_FILES) + n


def test_500_on_first_try_is_retried(server, n5k_root, tmp_path):
    flaky = _overhead(n5k_root)[:3] + ['metadata/dish_metadata_cafe1.csv']
    FaultyHandler.fail_once.update(flaky)
    s = download(tmp_path/'n5k', server, views=('overhead',), splits=('rgb_test',), backoff=0.01)
    assert FaultyHandler.seen == set(flaky)                              # each did fail once...
    assert len(s.complete) == len(_overhead(n5k_root)) and not s.failed                        # ...and came through on a retry


def test_connection_cut_leaves_no_partial_file_and_resumes(server, n5k_root, tmp_path):
    dest, cut = tmp_path/'n5k', _overhead(n5k_root)[0]
    FaultyHandler.cut.add(cut)
    s = download(dest, server, views=('overhead',), splits=('rgb_test',), backoff=0.01, retries=1)
    assert cut in s.failed[cut.split('/')[-2]]
    assert not (dest/cut).exists() and not list(dest.rglob('*.part'))
    assert cut not in read_manifest(dest/MANIFEST)
    FaultyHandler.cut.clear()                                           # the network is back
    s = download(dest, server, views=('overhead',), splits=('rgb_test',), backoff=0.01)
    assert s.fetched == 1 and len(s.complete) == len(_overhead(n5k_root))
    assert read_manifest(dest/MANIFEST)[cut] == read_manifest(n5k_root/MANIFEST)[cut]


def test_404_is_reported_missing_and_the_rest_is_fetched(server, n5k_root, tmp_path):
    gone = _overhead(n5k_root)[5]
    FaultyHandler.gone.add(gone)
    s = download(tmp_path/'n5k', server, views=('overhead',), splits=('rgb_test',), backoff=0.01)
    assert s.missing[gone.split('/')[-2]] == [gone]
    assert len(s.complete) == len(_overhead(n5k_root)) - 1 and not s.failed


def test_verify_catches_a_changed_file(server, n5k_root, tmp_path):
    dest = tmp_path/'n5k'
    r = subprocess.run([CLI, 'download', '--source', server, '--dest', str(dest), '--splits', 'rgb_test', '--views', 'overhead'],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f'{len(_overhead(n5k_root))} dishes complete' in r.stdout
    ok = subprocess.run([CLI, 'download', '--verify', '--dest', str(dest)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    changed = dest/_overhead(n5k_root)[2]
    changed.write_bytes(changed.read_bytes()[:-10] + b'0123456789')
    bad = subprocess.run([CLI, 'download', '--verify', '--dest', str(dest)], capture_output=True, text=True)
    assert bad.returncode == 1 and _overhead(n5k_root)[2] in bad.stderr


def test_side_view_frames_from_a_derivative(server, n5k_root, tmp_path):
    "`side_source`: a mirror of the derivative's frames; each dish gets the frames the source has, the rest are missing."
    side = sorted(p.name for p in (n5k_root/'side_angle_images').iterdir())[:6]
    no_side = next(d for d in (n5k_root/'dish_ids/splits/rgb_test_ids.txt').read_text().split() if d not in side
                   and not (n5k_root/'side_angle_images'/d).exists())
    s = download(tmp_path/'n5k', server, views=('side',), dishes=side + [no_side], side_source=server, backoff=0.01)
    n_frames = {d: len(list((n5k_root/'side_angle_images'/d).glob('camera_*_frame_*.jpeg'))) for d in side}
    assert s.complete == sorted(d for d in side if n_frames[d] == 20)           # dishes with all 4 x 5 frames
    assert len(s.missing[no_side]) == 20 and not s.failed
    for d in side:
        assert len(s.missing.get(d, [])) == 20 - n_frames[d]
        assert sorted(p.name for p in (tmp_path/'n5k/side_angle_images'/d).iterdir()) == \
               sorted(p.name for p in (n5k_root/'side_angle_images'/d).glob('camera_*_frame_*.jpeg'))


def test_install_from_local_copy_is_the_source_byte_for_byte(n5k_root, server, tmp_path):
    """`download --source DIR` the sample (and over HTTP: the same bytes). Training on such a copy to the very same metrics is
    checked by tests/test_sweep.py, which reruns a leaderboard row on one."""
    dest = tmp_path/'copy'
    r = subprocess.run([CLI, 'download', '--source', str(n5k_root), '--dest', str(dest), '--views', 'overhead', 'side',
                        '--side-source', str(n5k_root)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert verify(dest) == {} and verify(dest, str(n5k_root)) == {}
    with_http = tmp_path/'http'                                          # the same files over HTTP: byte for byte
    assert not download(with_http, server, views=('overhead',), backoff=0.01).failed
    copied = read_manifest(dest/MANIFEST)
    assert read_manifest(with_http/MANIFEST) == {k: v for k, v in copied.items() if not k.startswith('side_angle_images/')}
    source = read_manifest(n5k_root/MANIFEST)
    assert copied and all(source[k] == v for k, v in copied.items())


@pytest.mark.parametrize('fault', ['html', 'cut_unsized'])
def test_a_wrong_file_is_refused_by_name(server, n5k_root, tmp_path, fault):
    """An HTML page served as an image, and a connection cut mid-file with no Content-Length: refused, named, exit 1, not
    in the manifest."""
    dest, bad = tmp_path/'n5k', _overhead(n5k_root)[1]
    getattr(FaultyHandler, fault).add(bad)
    r = subprocess.run([CLI, 'download', '--source', server, '--dest', str(dest), '--splits', 'rgb_test', '--views', 'overhead'],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and bad in r.stderr, r.stderr[-2000:]
    assert ('not a PNG' if fault == 'html' else 'cut short') in r.stderr
    assert not (dest/bad).exists() and bad not in read_manifest(dest/MANIFEST) and not list(dest.rglob('*.part'))
    assert len(read_manifest(dest/MANIFEST)) == len(LABEL_FILES) + len(_overhead(n5k_root)) - 1   # the rest is there


def test_a_copy_that_differs_from_its_source_manifest_is_refused(n5k_root, tmp_path):
    """`download --source DIR` a copy whose file differs from the copy's own MANIFEST.sha256: refused by name, exit 1;
    `--verify --source DIR` agrees."""
    import shutil
    src = tmp_path/'src'
    for d in ('metadata', 'dish_ids'): shutil.copytree(n5k_root/d, src/d)
    shutil.copyfile(n5k_root/MANIFEST, src/MANIFEST)
    rels = _overhead(n5k_root)[:3]
    for rel in rels: (src/rel).parent.mkdir(parents=True); shutil.copyfile(n5k_root/rel, src/rel)
    (src/rels[0]).write_bytes((src/rels[0]).read_bytes()[:-12] + b'IEND\xaeB`\x82' + bytes(4))   # changed after its checksum
    dest = tmp_path/'copy'
    r = subprocess.run([CLI, 'download', '--source', str(src), '--dest', str(dest), '--views', 'overhead', '--dishes',
                        *sorted({p.split('/')[-2] for p in rels})],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and rels[0] in r.stderr and "differs from the source's manifest" in r.stderr, r.stderr[-2000:]
    assert rels[0] not in read_manifest(dest/MANIFEST) and not (dest/rels[0]).exists()
    assert all(rel in read_manifest(dest/MANIFEST) for rel in rels[1:])
    ok = subprocess.run([CLI, 'download', '--verify', '--dest', str(dest), '--source', str(src)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_killed_download_resumes_with_what_it_had(server, n5k_root, tmp_path):
    "kill -9 in the middle of a download; the rerun fetches only what the manifest does not have."
    FaultyHandler.delay = 0.15
    dest = tmp_path/'n5k'
    p = subprocess.Popen([CLI, 'download', '--source', server, '--dest', str(dest), '--splits', 'rgb_test', '--views',
                          'overhead', '--workers', '2'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(read_manifest(dest/MANIFEST)) < len(LABEL_FILES) + 5 and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    had = read_manifest(dest/MANIFEST)
    n = len(LABEL_FILES) + len(_overhead(n5k_root))
    assert len(LABEL_FILES) + 5 <= len(had) < n                                  # killed half-way, every landed file recorded
    FaultyHandler.delay = 0.
    s = download(dest, server, views=('overhead',), splits=('rgb_test',), backoff=0.01)
    assert s.skipped == len(had) and s.fetched == n - len(had) and not s.failed


def test_a_split_file_cut_at_a_line_boundary_is_a_failed_file(n5k_root, tmp_path):
    """A mirror with no manifest serves `rgb_test_ids.txt` cut after half its lines (each line whole): `download` refuses
    it by name, `--verify` reports it, and training will not read it."""
    import shutil, sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT/'tools'))
    from bucket_mirror import serve_mirror
    from nutrition_predictor.data import DataError, read_split_ids
    mirror = tmp_path/'mirror'
    for rel in LABEL_FILES: (mirror/rel).parent.mkdir(parents=True, exist_ok=True); shutil.copyfile(n5k_root/rel, mirror/rel)
    lines = (mirror/'dish_ids/splits/rgb_test_ids.txt').read_text().splitlines()
    (mirror/'dish_ids/splits/rgb_test_ids.txt').write_text('\n'.join(lines[:354]) + '\n')
    assert not (mirror/MANIFEST).exists() and len(lines) == 709
    srv = serve_mirror(mirror)
    try:
        dest = tmp_path/'n5k'
        r = subprocess.run([CLI, 'download', '--source', f'http://127.0.0.1:{srv.server_port}/', '--dest', str(dest),
                            '--views', 'overhead'],
                           capture_output=True, text=True, timeout=300)
    finally: srv.shutdown()
    why = '354 dish ids where the official release has 709 (cut short?)'
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert f'dish_ids/splits/rgb_test_ids.txt: {why}' in r.stderr.strip().splitlines()[-1], r.stderr[-2000:]
    assert 'dish_ids/splits/rgb_test_ids.txt' not in read_manifest(dest/MANIFEST)      # not stored as data
    v = subprocess.run([CLI, 'download', '--verify', '--dest', str(dest)], capture_output=True, text=True, timeout=300)
    assert v.returncode == 1 and f'dish_ids/splits/rgb_test_ids.txt: {why}' in v.stderr, (v.stdout, v.stderr)
    with pytest.raises(DataError, match='cut short'): read_split_ids(dest, 'test')
