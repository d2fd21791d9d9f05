"The downloader against a local mirror: side-angle videos become frames, and a hostile split file cannot write outside --dest."
import shutil, subprocess, sys

import numpy as np
import pytest

from conftest import CLI, ROOT
sys.path.insert(0, str(ROOT/'tools'))
from bucket_mirror import serve_mirror  # noqa: E402
from nutrition_predictor.data import CAMERAS
from nutrition_predictor.images import fit_square, load_rgb
from nutrition_predictor.download import LABEL_FILES, MANIFEST, download, read_manifest, side_video
from nutrition_predictor.synthetic import write_h264

EVERY, N_VIDEO_FRAMES = 5, 12          # frames 0, 5, 10 of each video are kept: 3 per camera


@pytest.fixture
def mirror(n5k_root, tmp_path):
    "A folder in the official layout with the sample's label files, served over HTTP on loopback as the bucket serves it."
    root = tmp_path/'mirror'
    for d in ('metadata', 'dish_ids'): shutil.copytree(n5k_root/d, root/d)
    srv = serve_mirror(root)
    yield root, f'http://127.0.0.1:{srv.server_port}/'
    srv.shutdown()


def _video_frames(n5k_root, k) -> list:
    "Video `k`'s frames: real side-angle frames of the sample, 320x180, a different run of dishes per video."
    frames = sorted((n5k_root/'side_angle_images').glob('*/camera_A_frame_002.jpeg'))
    return [fit_square(load_rgb(p), 320, 'squash')[70:250] for p in frames[k * N_VIDEO_FRAMES:(k + 1) * N_VIDEO_FRAMES]]


def test_frames_extracted_from_official_videos(mirror, n5k_root, tmp_path):
    root, url = mirror
    good, corrupt = ['dish_1550000001', 'dish_1550000002'], 'dish_1550000003'
    sources = {}
    for i, d in enumerate(good):
        for j, c in enumerate(CAMERAS):
            sources[d, c] = _video_frames(n5k_root, (4 * i + j) % 8)
            write_h264(sources[d, c], root/side_video(d, c))
    for c in CAMERAS:                                               # a truncated stream from every camera of one dish
        (root/side_video(corrupt, c)).parent.mkdir(parents=True, exist_ok=True)
        (root/side_video(corrupt, c)).write_bytes((root/side_video(good[0], c)).read_bytes()[:400])
    dest = tmp_path/'n5k'
    s = download(dest, url, views=('side',), dishes=good + [corrupt], every=EVERY, max_frames=None, backoff=0.01)
    assert s.complete == good and list(s.failed) == [corrupt] and not s.missing
    assert all(side_video(corrupt, c) in s.failed[corrupt] for c in CAMERAS)         # each bad video is named
    n_kept = len(range(0, N_VIDEO_FRAMES, EVERY))
    assert s.extracted == len(good) * len(CAMERAS) * n_kept
    for (d, c), src in sources.items():
        names = sorted(p.name for p in (dest/'side_angle_images'/d).glob(f'camera_{c}_frame_*.jpeg'))
        assert names == [f'camera_{c}_frame_{k:03d}.jpeg' for k in range(1, n_kept + 1)]
        for k, name in enumerate(names):                            # frame k+1 is video frame k*EVERY
            diff = np.abs(load_rgb(dest/'side_angle_images'/d/name).astype(float) - src[k * EVERY]).mean()
            assert diff < 4, (d, name, diff)
    manifest = read_manifest(dest/MANIFEST)
    assert all(f'side_angle_images/{d}/camera_{c}_frame_001.jpeg' in manifest for d in good for c in CAMERAS)
    again = download(dest, url, views=('side',), dishes=good + [corrupt], every=EVERY, max_frames=None, backoff=0.01)
    assert (again.fetched, again.extracted) == (0, 0)               # a second run fetches and extracts nothing...
    assert again.skipped == len(LABEL_FILES) + 3 * len(CAMERAS)      # (labels and all videos: present and verified)
    assert list(again.failed) == [corrupt]                           # ...and names the corrupt videos again


def test_split_file_cannot_write_outside_dest(mirror, n5k_root, tmp_path):
    """A mirror whose split file lists `../../../../escaped`: the file is refused by name and line (not a dish id),
    nothing written outside --dest."""
    root, url = mirror
    real = sorted(p.name for p in (n5k_root/'imagery/realsense_overhead').iterdir())[:2]
    for d in real: shutil.copytree(n5k_root/'imagery/realsense_overhead'/d, root/'imagery/realsense_overhead'/d)
    (root/'dish_ids/splits/rgb_train_ids.txt').write_text('\n'.join(['../../../../escaped', *real, 'dish_12/../../x']) + '\n')
    (root/'dish_ids/splits/rgb_test_ids.txt').write_text('')
    (root/'escaped').mkdir(); shutil.copytree(root/'imagery/realsense_overhead'/real[0], root/'escaped', dirs_exist_ok=True)
    dest = tmp_path/'a/b/c/d/dest'
    before = {p for p in tmp_path.rglob('*') if not p.is_relative_to(dest) and not p.is_relative_to(root)}
    r = subprocess.run([CLI, 'download', '--source', url, '--dest', str(dest), '--views', 'overhead'],
                       capture_output=True, text=True, timeout=300)
    after = {p for p in tmp_path.rglob('*') if not p.is_relative_to(dest) and not p.is_relative_to(root)}
    assert after - before <= {tmp_path/'a', tmp_path/'a/b', tmp_path/'a/b/c', tmp_path/'a/b/c/d'}   # only --dest's parents
    assert [p for p in tmp_path.rglob('rgb.png') if 'escaped' in p.parts and not p.is_relative_to(root)] == []
    assert "rgb_train_ids.txt: line 1 is not a dish id ('../../../../escaped')" in r.stderr, r.stderr[-2000:]
    # no dish read from a list that is not whole
    assert r.returncode == 1 and 'Traceback' not in r.stderr and not (dest/'imagery').exists()
