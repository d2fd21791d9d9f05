"""Run README.md's commands in order, as a newcomer copies them into a fresh shell; CI runs it beside the tests.

    python tools/run_readme.py            # on a clean clone, with the README's install done and NUTRITION5K_DIR set

`.ci/run` runs it on a clone of the commit under test, in a virtual environment of its own, so that what the README's
commands write (data/, runs/, the shipped model's ONNX export, the editable install) stays out of the checkout that
the tests read while it runs.

Every fenced block of the README is run, in README order, in one bash session at the repository root (`set -euo
pipefail`: the first command that fails stops it, and the script exits 1 naming the block): `sh` blocks as written,
`python` blocks through this environment's python. What a machine without the internet cannot reach is stood in for,
and nothing else is changed:

- the public bucket: `tools/bucket_mirror.py` serves `$NUTRITION5K_DIR` the way the bucket does, and
  `NUTRITION5K_URL` (the variable the README documents for a mirror) points the downloader at it; the shell has no
  `NUTRITION5K_DIR`, so everything after the download reads what the download wrote, as a newcomer's would;
- a command that serves until it is stopped (`nutrition-predictor serve` or `demo`, `docker run`) is started as written in the
  background, waited for until it answers on its port, and stopped;
- the Tests block is the test command `.ci/run` runs itself (with `--save` and `-v`), so it is not run twice.

The shell is the one `.ci/run` runs in: its virtual environment active and the variables the README's Tests section
tells machines without a display or network to set; the feature cache (`~/.cache/nutrition-predictor`) may already
hold what the tests computed. It refuses to start where `data/` or `runs/` exist (they would not be a newcomer's), and
it writes the seconds each block took to `test-output/readme.json`. It checks that the commands succeed, not how good
the model trained on the mirror's quick start is: the sample has side-angle frames for about a fifth of the split's
dishes, so `--sample 500` trains on about 80 of them.
"""
import json, os, re, shlex, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from bucket_mirror import serve_mirror  # noqa: E402

RUN_BY_CI = {'Tests'}                    # sections whose block `.ci/run` runs itself
TIMEOUT = 2400                           # seconds for the whole README: a command that never returns fails the run, not hangs it
# what .ci/run adds to those commands: keep the outputs for the docs, name each test, the slowest tests
CI_FLAGS = {'--save', '-v', '--durations=25'}
LANGUAGES = {'sh', 'python'}             # what a README block may be written in: the runner refuses any other
# a command that serves until stopped: (how it starts, its default port, the path that answers)
SERVERS = {
    'serve': (re.compile(r'^nutrition-predictor serve(?! .*--help)\b'), 8000, '/health'),
    'demo': (re.compile(r'^nutrition-predictor demo(?! .*--help)\b'), 7860, '/'),
    'container': (re.compile(r'^docker run\b'), 8000, '/health'),
}


def readme_blocks(text:str) -> list[tuple[str, str, str]]:
    """`(section, language, code)` of every fenced block of `text`, in order (``` or ~~~, indented or not); `section` is
    the `## ` title above it."""
    out, section = [], ''
    for m in re.finditer(r'^## ([^\n]+)$|^[ \t]*(`{3,}|~{3,})[ \t]*([^\n]*)\n(.*?)^[ \t]*\2[ \t]*$', text, flags=re.M | re.S):
        if m[1]: section = m[1].strip()
        else: out.append((section, (m[3].split() or [''])[0], m[4]))
    return out


def _words(line:str) -> list[str]:
    "The words of a shell `line`, its trailing comment left out (`[]` if it does not parse as one line)."
    try: return shlex.split(line, comments=True)
    except ValueError: return []


def shell_line(line:str) -> str:
    """The line to run for README `line`: itself, or for a command that serves until stopped, start it (as written), wait
    for it, stop it."""
    cmd = ' '.join(_words(line))
    if re.search(r'(&|\\)\s*(#.*)?$', line): return line              # already in the background, or continued
    for start, port, path in SERVERS.values():
        if start.match(cmd):
            p = re.search(r'(?:--port[ =]|-e PORT=)(\d+)', cmd)
            url = f'http://127.0.0.1:{p[1] if p else port}{path}'
            return (f'{{ {line}\n}} & pid=$!\n'
                    f'curl -sf -o /dev/null --retry 180 --retry-all-errors --retry-delay 1 {url}\n'
                    f'echo "{url} answered"; kill -- -$pid; wait $pid || true')
    return line


def script(blocks, python:str=sys.executable) -> str:
    "One bash script running `blocks` in order; each block announces itself and records its seconds."
    parts = ['set -euo pipefail', 'set -m   # job control: each background command in its own process group, stopped whole',
             'trap \'for j in $(jobs -p); do kill -- -$j 2>/dev/null || true; done\' EXIT   # a failure leaves no server behind',
             'readme_block() { echo "=== README block $1: $2" >&2; echo "$1 $SECONDS" >> "$TIMES"; }']
    for i, (section, lang, code) in enumerate(blocks):
        if lang not in LANGUAGES:
            raise ValueError(f"README block {i} ({section}) is in {lang or 'no language'!r}: write it in one of "
                             f"{sorted(LANGUAGES)}")
        if section in RUN_BY_CI: continue
        parts.append(f'readme_block {i} {shlex.quote(section)}')
        if lang == 'python': parts.append(f"{python} - <<'README_PYTHON_BLOCK'\n{code}README_PYTHON_BLOCK")
        else: parts += [shell_line(l) for l in code.splitlines()]
    parts.append('echo "end $SECONDS" >> "$TIMES"')
    return '\n'.join(parts) + '\n'


def not_run_by_ci(blocks, ci:str) -> list[str]:
    "Commands of the `RUN_BY_CI` blocks that are not a line of `ci` (the text of `.ci/run`), which may add `CI_FLAGS`."
    ci_lines = [[w for w in _words(l) if w not in CI_FLAGS] for l in ci.splitlines()]
    cmds = [c.strip() for section, _, code in blocks if section in RUN_BY_CI
            for c in re.split(r'&&|\|\||;|\n', '\n'.join(' '.join(_words(l)) for l in code.splitlines()))]
    return [c for c in cmds if c and c.split() not in ci_lines]


def main():
    blocks = readme_blocks((ROOT/'README.md').read_text())
    missing = not_run_by_ci(blocks, (ROOT/'.ci/run').read_text())
    if missing: sys.exit(f"run_readme: {missing} (the README's {'/'.join(RUN_BY_CI)} block) are not commands .ci/run runs")
    here = [d for d in ('data', 'runs') if (ROOT/d).exists()]
    if here: sys.exit(f"run_readme: {', '.join(here)}/ exist here; run it on a clean clone (a newcomer has neither)")
    if not Path(os.environ.get('NUTRITION5K_DIR', ''), 'metadata').is_dir():
        sys.exit('run_readme: set NUTRITION5K_DIR (what the mirror serves)')
    mirror = serve_mirror(os.environ['NUTRITION5K_DIR'])
    out = ROOT/'test-output'; out.mkdir(exist_ok=True)
    times, sh = out/'readme.times', out/'readme.sh'
    times.unlink(missing_ok=True)
    sh.write_text(script(blocks))
    env = {k: v for k, v in os.environ.items() if k != 'NUTRITION5K_DIR'}
    env.update(NUTRITION5K_URL=f'http://127.0.0.1:{mirror.server_port}/', TIMES=str(times),
               PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    t0 = time.time()
    try: r = subprocess.run(['bash', str(sh)], cwd=ROOT, env=env, timeout=TIMEOUT)
    finally: mirror.shutdown()
    marks = [l.split() for l in times.read_text().splitlines()] if times.exists() else []
    seconds = {f'{blocks[int(a)][0]} #{a}': int(t2) - int(t1) for (a, t1), (_, t2) in zip(marks, marks[1:])}
    (out/'readme.json').write_text(json.dumps(dict(seconds=seconds, total=round(time.time() - t0),
                                                   returncode=r.returncode), indent=1))
    if r.returncode:
        failed = marks[-1][0] if marks and marks[-1][0] != 'end' else '?'
        sys.exit(f"run_readme: a command of README block {failed} ({blocks[int(failed)][0] if failed != '?' else ''}) failed")
    print(f"run_readme: every README command succeeded ({round(time.time() - t0)} s; per block in {out/'readme.json'})")


if __name__ == '__main__': main()
