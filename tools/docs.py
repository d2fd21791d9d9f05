"""Build the documentation site into `_docs/`: `nbdev-docs` where Quarto is installed, else nbdev's own notebook
processing (API signatures and docments, as `show_doc` renders them) followed by mkdocs-material + mkdocs-jupyter.

    python tools/docs.py            # -> _docs/index.html, one page per notebook, with the outputs the notebooks keep
"""
import json, os, re, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIRECTIVE = re.compile(r'^\s*#\s*\|.*$\n?', re.M)


def notebooks() -> list[Path]:
    "The notebooks that become pages, in the order of the site's navigation (index first)."
    nbs = sorted((ROOT/'nbs').glob('[0-9]*.ipynb'))
    return [ROOT/'nbs/index.ipynb'] + nbs


def title(nb:dict, fallback:str) -> str:
    "A notebook's title: its frontmatter's, or its first `# ` heading."
    for c in nb['cells']:
        src = ''.join(c['source'])
        if m := re.search(r'^title:\s*"?(.+?)"?\s*$', src, re.M): return m[1]
        if c['cell_type'] == 'markdown' and (m := re.search(r'^# (.+)$', src, re.M)): return m[1].strip()
    return fallback


def for_mkdocs(nb:dict) -> dict:
    "A processed notebook as mkdocs-jupyter should show it: no nbdev directives, no emptied (exported or hidden) cells."
    cells = []
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'raw' and src.startswith('---'): continue              # Quarto frontmatter
        if c['cell_type'] == 'code': src = DIRECTIVE.sub('', src)
        if not src.strip() and not c.get('outputs'): continue
        hide = c['cell_type'] == 'code' and src.startswith('show_doc(')          # the signature shows, not the call
        cells.append({**c, 'source': src, 'metadata': {'tags': ['hide_input']} if hide else {}})
    return {**nb, 'cells': cells}


def build_mkdocs(out:Path) -> Path:
    "nbdev's processing into `_proc/`, then mkdocs-material + mkdocs-jupyter into `out`."
    from nbdev.serve import proc_nbs
    proc_nbs(str(ROOT/'nbs'))
    proc, docs = ROOT/'_proc', ROOT/'_proc/mkdocs'
    shutil.rmtree(docs, ignore_errors=True); docs.mkdir(parents=True)
    nav = []
    for src in notebooks():
        nb = json.loads((proc/src.name).read_text())
        page = 'index.ipynb' if src.stem == 'index' else f'{src.stem}.ipynb'
        (docs/page).write_text(json.dumps(for_mkdocs(nb)))
        nav.append({('Home' if src.stem == 'index' else f"{src.stem}: {title(nb, src.stem)}"): page})
    shutil.copy(ROOT/'LICENSE', docs/'LICENSE.txt')
    cfg = dict(site_name='nutrition-predictor',
               site_description='Predict the nutrition of a plate of food from one photo (Nutrition5k)',
               repo_url='https://github.com/nutrition-predictor/nutrition-predictor', docs_dir=str(docs), site_dir=str(out),
               theme=dict(name='material', features=['navigation.instant', 'search.highlight', 'content.code.copy']),
               plugins=['search', {'mkdocs-jupyter': dict(include_source=True, execute=False, ignore_h1_titles=False,
                                                                 remove_tag_config=dict(remove_input_tags=['hide_input']))}],
               nav=nav, use_directory_urls=False)                      # plain .html files: readable from disk too
    (proc/'mkdocs.yml').write_text(json.dumps(cfg, indent=1))           # YAML is a superset of JSON
    subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--clean', '-q', '-f', str(proc/'mkdocs.yml')], check=True,
                   env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'})
    return out


def main(out:str='_docs') -> Path:
    out = (ROOT/out).resolve()
    if shutil.which('quarto'):                                          # nbdev's own way
        subprocess.run(['nbdev-docs'], cwd=ROOT, check=True)
        return ROOT/'_docs'
    out = build_mkdocs(out)
    missing = [nb.stem for nb in notebooks() if nb.stem != 'index' and not (out/f'{nb.stem}.html').is_file()]
    if missing: raise SystemExit(f"no page for {missing}")
    print(f"Documentation site: {out/'index.html'} ({len(notebooks())} pages)")
    return out


if __name__ == '__main__': main(*sys.argv[1:])
