"""The documentation site: built with the README's one command, a page for every notebook with the outputs it keeps, and
read in a browser."""
import json, subprocess, sys

import pytest

from nutrition_predictor.runs import pretrained_run
from conftest import ROOT
from test_browser import CHROMIUM, CHROMEDRIVER, browser  # noqa: F401 (the browser fixture)

NOTEBOOKS = sorted(p.stem for p in (ROOT/'nbs').glob('[0-9]*.ipynb'))


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('docs')/'site'
    r = subprocess.run([sys.executable, 'tools/docs.py', str(out)], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def _images(nb) -> int:
    "Plots a notebook keeps among its outputs."
    return sum('image/png' in o.get('data', {}) for c in json.loads(nb.read_text())['cells'] for o in c.get('outputs', []))


def test_every_notebook_has_a_page(site):
    assert (site/'index.html').is_file() and (site/'search/search_index.json').is_file()
    assert [n for n in NOTEBOOKS if not (site/f'{n}.html').is_file()] == []


def test_pages_show_the_api_and_the_outputs(site):
    config = (site/'01_config.html').read_text()
    assert 'TrainConfig' in config and 'ParamsError' in config                   # show_doc's signatures
    with_plots = [n for n in NOTEBOOKS if _images(ROOT/'nbs'/f'{n}.ipynb')]
    assert with_plots, "no notebook keeps a plot"
    for n in with_plots: assert (site/f'{n}.html').read_text().count('data:image/png') >= _images(ROOT/'nbs'/f'{n}.ipynb'), n
    card, m = (site/'01e_card.html').read_text(), pretrained_run().metrics()                 # the shipped model's card renders
    assert 'Bias, risks and limitations' in card and f"{m.test.mae_pct['calories']:.1f}%" in card


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason='needs chromium')
def test_a_browser_reads_two_pages(site, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    browser.get((site/'index.html').as_uri())
    assert 'nutrition-predictor' in browser.title
    links = [a.get_attribute('href') for a in browser.find_elements(By.CSS_SELECTOR,
            'nav a') if '04a_evaluate' in (a.get_attribute('href') or '')]
    assert links, "the navigation links every notebook"
    browser.get(links[0])
    assert 'Evaluation' in browser.title or 'evaluate' in browser.title.lower(), browser.title
    assert browser.find_elements(By.CSS_SELECTOR, 'img[src^="data:image/png"]') or _images(ROOT/'nbs/04a_evaluate.ipynb') == 0
