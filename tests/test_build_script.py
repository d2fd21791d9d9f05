"`docker/build.sh` on a machine without Docker Engine or debootstrap fails in seconds, naming what to install."
import os, subprocess, time

from conftest import ROOT


def test_build_sh_names_what_is_missing(tmp_path):
    bin_dir = tmp_path/'bin'; bin_dir.mkdir()
    for d in ('/usr/bin', '/bin', '/usr/sbin'):                    # this machine's commands, except Docker's and debootstrap
        for f in os.listdir(d):
            if not (f.startswith('docker') or f == 'debootstrap') and not (bin_dir/f).exists(): (bin_dir/f).symlink_to(f'{d}/{f}')
    t0 = time.monotonic()
    r = subprocess.run(['bash', 'docker/build.sh'], cwd=ROOT, env={**os.environ, 'PATH': str(bin_dir)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and 'docker/build.sh needs: docker dockerd debootstrap' in r.stderr, r.stderr
    # at once, not after waiting for a daemon (a loaded machine: margin)
    assert time.monotonic() - t0 < 30
