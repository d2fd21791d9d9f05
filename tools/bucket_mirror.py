"""Serve a Nutrition5k folder over HTTP the way the public bucket serves the dataset, for machines without the internet.

    python tools/bucket_mirror.py [FOLDER] [--port 8765]
    NUTRITION5K_URL=http://127.0.0.1:8765/ nutrition-predictor download ...      # then, in another shell

What the bucket holds is served, and nothing else: the folder's `metadata/`, `dish_ids/` and
`imagery/realsense_overhead/` as they are (no `MANIFEST.sha256`: the bucket publishes none). The bucket keeps the side
angles as raw H.264 videos (`imagery/side_angles/<dish_id>/camera_<X>.h264`); a video the folder holds is served as it
is, and where a folder (like the project's sample) keeps only frames extracted from them
(`side_angle_images/<dish_id>/camera_<X>_frame_<NNN>.jpeg`, frame 001 the video's first frame, 002 its sixth, as
`download` writes them), a video is encoded on request from the frames it has, each held for `EVERY` video frames, so
`download --views side` extracts the same frames again (re-encoded, so not bit for bit). A camera the folder has
neither a video nor a frame of is a 404, as a file the bucket lacks is.
"""
import argparse, functools, os, posixpath, re, tempfile, threading, urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from nutrition_predictor.images import load_rgb
from nutrition_predictor.synthetic import write_h264

EVERY = 5                                                       # `download`'s default: keep every 5th video frame
VIDEO = re.compile(r'/imagery/side_angles/(dish_\d+)/camera_([A-D])\.h264')
BUCKET = ('/metadata/', '/dish_ids/', '/imagery/realsense_overhead/')     # the folders the bucket serves as files


def side_video_bytes(root:Path, dish_id:str, camera:str) -> bytes|None:
    """A raw H.264 stream of `camera`'s frames of `dish_id` in `root` (frame k held for `EVERY` video frames), or None
    without frames."""
    frames = sorted((root/'side_angle_images'/dish_id).glob(f'camera_{camera}_frame_[0-9][0-9][0-9].jpeg'))
    if not frames: return None
    by_number = {int(p.stem[-3:]): p for p in frames}
    images = {k: load_rgb(p) for k, p in by_number.items()}
    h, w = (s - s % 2 for s in next(iter(images.values())).shape[:2])   # libx264 wants even sides
    video = []
    for k in range(1, max(by_number) + 1):                     # a missing frame number repeats the nearest earlier one
        img = images.get(k, images[max((j for j in by_number if j <= k), default=min(by_number))])
        video += [np.ascontiguousarray(img[:h, :w])] * (EVERY if k < max(by_number) else 1)
    with tempfile.TemporaryDirectory() as d: return write_h264(video, Path(d)/'v.h264').read_bytes()


class BucketHandler(SimpleHTTPRequestHandler):
    "The bucket's files of `directory` as they are; side-angle videos encoded from its frames; anything else 404."
    def log_message(self, *args): pass
    def _route(self) -> tuple|None:
        "`('file', None)` to serve the file as it is, `('video', match)` to encode one, or None for a 404."
        path = urllib.parse.unquote(self.path.split('?')[0].split('#')[0])
        norm = posixpath.normpath(path)
        if norm != path or '\\' in path: return None          # `..`, `//`, `./`, encoded or not: never a bucket path
        m = VIDEO.fullmatch(path)
        if (m or path.startswith(BUCKET)) and (Path(self.directory)/path.lstrip('/')).is_file(): return ('file', None)
        return ('video', m) if m else None
    def do_HEAD(self):
        r = self._route()
        if r is None: return self.send_error(404)
        if r[0] == 'file': return super().do_HEAD()
        self.do_GET()
    def do_GET(self):
        r = self._route()
        if r is None: return self.send_error(404)
        if r[0] == 'file': return super().do_GET()
        data = side_video_bytes(Path(self.directory), *r[1].groups())
        if data is None: return self.send_error(404)
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream'); self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if self.command == 'GET': self.wfile.write(data)


def serve_mirror(root:str|Path, port:int=0) -> ThreadingHTTPServer:
    "Start serving `root` as the bucket on 127.0.0.1:`port` (0: any free port) in a daemon thread; `.server_port` says where."
    srv = ThreadingHTTPServer(('127.0.0.1', port), functools.partial(BucketHandler, directory=str(root)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('folder', nargs='?', default=os.environ.get('NUTRITION5K_DIR', 'data/nutrition5k'))
    p.add_argument('--port', type=int, default=8765)
    a = p.parse_args()
    srv = serve_mirror(a.folder, a.port)
    print(f"NUTRITION5K_URL=http://127.0.0.1:{srv.server_port}/   (Ctrl-C stops it)", flush=True)
    try: threading.Event().wait()
    except KeyboardInterrupt: srv.shutdown()
