"""The README's commands as CI runs them (`tools/run_readme.py`, beside this suite): every block found, in order, each a
language the runner runs; the commands that serve until stopped are stopped; the bucket's mirror serves what the bucket
holds and the downloader reads it as the bucket."""
import re, sys

import numpy as np
import pytest

from conftest import ROOT
sys.path.insert(0, str(ROOT/'tools'))
from bucket_mirror import serve_mirror  # noqa: E402
from run_readme import LANGUAGES, RUN_BY_CI, not_run_by_ci, readme_blocks, script, shell_line  # noqa: E402

from nutrition_predictor.download import download  # noqa: E402
from nutrition_predictor.images import load_rgb  # noqa: E402


def test_every_block_is_found_and_runnable():
    text = (ROOT/'README.md').read_text()
    blocks = readme_blocks(text)
    assert len(blocks) == len(re.findall(r'^\s*(```|~~~)', text, flags=re.M)) // 2     # each fence opens and closes one block
    assert {lang for _, lang, _ in blocks} <= LANGUAGES, "a block in a language the runner does not run"
    sections = [s for s, _, _ in blocks]
    order = [sections.index(s) for s in ('Install', 'Get the data', 'Train and evaluate', 'Demo')]
    assert order == sorted(order), sections
    assert RUN_BY_CI <= set(sections)
    assert readme_blocks("## A\n```sh\necho hi\n```\n## B\n```python\nx = 1\n```\n") == [('A', 'sh', 'echo hi\n'),
            ('B', 'python', 'x = 1\n')]
    assert readme_blocks("## A\n- a step:\n  ```sh title\n  echo hi\n  ```\n~~~\nplain\n~~~\n") == [('A', 'sh',
            '  echo hi\n'), ('A', '', 'plain\n')]
    with pytest.raises(ValueError, match='no language'): script([('A', '', 'plain\n')])


def test_the_tests_block_is_what_ci_runs():
    blocks = readme_blocks((ROOT/'README.md').read_text())
    assert not_run_by_ci(blocks, (ROOT/'.ci/run').read_text()) == []
    assert not_run_by_ci([('Tests', 'sh', 'nbdev-test && pytest -k fast\n')],
                         'nbdev-test --save\npytest -v\n') == ['pytest -k fast']


def test_no_placeholder_or_foreground_server_left():
    body = script(readme_blocks((ROOT/'README.md').read_text()))
    assert '/path/to' not in body
    # three demos and the container, stopped once they answer
    assert body.count('kill -- -$pid') >= 4
    line = 'nutrition-predictor demo --run "runs/my run" --port 8080  # a comment'
    assert shell_line(line).startswith('{ ' + line + '\n} & pid=$!')      # the command itself, as written
    assert 'http://127.0.0.1:8080/' in shell_line(line)
    assert 'http://127.0.0.1:8000/health' in shell_line('nutrition-predictor serve')
    for as_is in ['nutrition-predictor serve &', 'nutrition-predictor serve &   # in the background',
                  'nutrition-predictor demo --help']:
        assert shell_line(as_is) == as_is


def test_the_mirror_serves_the_bucket(n5k_root, tmp_path):
    "Side-angle frames come back from the mirror's videos as the sample has them (re-encoded); what the bucket lacks is missing."
    with_frames = sorted(p.parent.name for p in (n5k_root/'side_angle_images').glob('*/camera_A_frame_002.jpeg'))
    full = sorted(p.parent.name for p in (n5k_root/'side_angle_images').glob('*/camera_D_frame_005.jpeg'))
    dishes = [full[0], next(d for d in with_frames if d not in full)]
    srv = serve_mirror(n5k_root)
    try: s = download(tmp_path/'n5k', f'http://127.0.0.1:{srv.server_port}/', views=('side',), dishes=dishes, backoff=0.01)
    finally: srv.shutdown()
    assert s.failed == {} and s.complete == [full[0]] and list(s.missing) == [dishes[1]]     # one camera only for the second
    assert len(s.missing[dishes[1]]) == 3
    for d in dishes:
        a, b = (load_rgb(r/f'side_angle_images/{d}/camera_A_frame_002.jpeg') for r in (n5k_root, tmp_path/'n5k'))
        h, w = b.shape[:2]
        assert np.abs(a[:h, :w].astype(int) - b).mean() < 4, d                # the same picture, through H.264 and JPEG
    assert len(list((tmp_path/'n5k/side_angle_images'/full[0]).glob('*.jpeg'))) == 20


@pytest.mark.parametrize('path',
                         ['MANIFEST.sha256', 'README.md', 'side_angle_images/', 'imagery/side_angles/dish_1/camera_A.h264',
                                  'metadata/%2e%2e/MANIFEST.sha256', 'metadata/.%2E/README.md',
                                  'dish_ids/../MANIFEST.sha256', 'metadata//../README.md'])
def test_the_mirror_serves_nothing_the_bucket_lacks(n5k_root, path):
    import urllib.error, urllib.request
    srv = serve_mirror(n5k_root)
    try:
        with pytest.raises(urllib.error.HTTPError, match='404'):
            urllib.request.urlopen(f'http://127.0.0.1:{srv.server_port}/{path}')
    finally: srv.shutdown()
