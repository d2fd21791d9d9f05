"The README's first steps, copied in order into a fresh shell: every command must succeed as written."
import os, re, subprocess, sys
from pathlib import Path

from conftest import ROOT

# The sections whose commands need neither the dataset nor the network. The install line itself (`pip install`) is
# what CI runs to build the environment these commands run in; download, train and sweep have tests of their own.
RUNNABLE = ('Install', 'Predict', 'Serve: a REST API for programs, the demo for people')


def readme_blocks(text:str, sections=RUNNABLE) -> list[tuple[str, str]]:
    "`(language, code)` of each fenced block under the `## ` sections named `sections`, in README order."
    out = []
    for part in re.split(r'^## ', text, flags=re.M)[1:]:
        title, _, body = part.partition('\n')
        if title.strip() in sections: out += re.findall(r'^```(\w+)\n(.*?)^```', body, flags=re.M | re.S)
    return out


def test_blocks_are_found():
    blocks = readme_blocks((ROOT/'README.md').read_text())
    langs = [l for l, _ in blocks]
    assert langs.count('sh') >= 3 and 'python' in langs, langs
    assert readme_blocks("## Install\n```sh\necho hi\n```\n## Other\n```sh\nfalse\n```\n") == [('sh', 'echo hi\n')]


def test_readme_commands_run_as_written(tmp_path):
    blocks = readme_blocks((ROOT/'README.md').read_text())
    shell = '\n'.join(code for lang, code in blocks if lang == 'sh')
    shell = '\n'.join(l for l in shell.splitlines() if not l.startswith('pip install'))
    python = '\n'.join(code for lang, code in blocks if lang == 'python')
    script = tmp_path/'readme.sh'
    script.write_text(f"set -euo pipefail\n{shell}\n{sys.executable} - <<'PY'\n{python}\nPY\n")
    env = {k: v for k, v in os.environ.items() if k != 'NUTRITION5K_DIR'}        # a newcomer's shell: no dataset
    env['PATH'] = f"{Path(sys.executable).parent}:{env['PATH']}"
    shipped = ROOT/'nutrition_predictor/pretrained'
    seal = (shipped/'complete.json').read_bytes()
    try: r = subprocess.run(['bash', str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    finally:                                             # `export --onnx` added model.onnx to the shipped model: undo it
        (shipped/'model.onnx').unlink(missing_ok=True)
        (shipped/'complete.json').write_bytes(seal)
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert '"calories_kcal"' in r.stdout and 'calories_kcal' in r.stdout.splitlines()[0]   # the table, then the API's JSON
    assert 'nutrition_images_predicted_total' in r.stdout
