"A real browser (headless Debian Chromium, driven by selenium) uploads a plate photo and reads the five values off the page."
import shutil
from pathlib import Path

import pytest

from nutrition_predictor.demo import NAMES
from nutrition_predictor.data import TARGETS, UNITS
from nutrition_predictor.predict import Predictor

CHROMIUM = shutil.which('chromium') or shutil.which('google-chrome') or '/usr/bin/chromium'
CHROMEDRIVER = shutil.which('chromedriver') or '/usr/bin/chromedriver'
pytestmark = pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                                reason='needs Debian chromium + chromium-driver (installed by .ci/run)')


@pytest.fixture(scope='module')
def demo_url(offline_run, n5k_root):
    from nutrition_predictor.demo import build_demo, launch_demo
    demo = build_demo(offline_run, n5k_root)
    launch_demo(demo)
    yield demo.local_url
    demo.close()


def _chromium(tmp_path, *args):
    "Headless Chromium, driven by selenium, with `args` added."
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
              '--disable-background-networking', '--disable-component-update', '--disable-sync',
              '--disable-dev-shm-usage', f'--user-data-dir={tmp_path/"profile"}', '--window-size=1400,1200', *args]:
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


@pytest.fixture
def browser(tmp_path):
    driver = _chromium(tmp_path)
    yield driver
    driver.quit()


def _upload_and_predict(browser, url, path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    browser.get(url)
    wait = WebDriverWait(browser, 120)
    file_input = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, 'input[type=file]'))
    file_input.send_keys(str(path))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'img[src*="gradio_api/file"]'))   # the upload is shown
    browser.find_element(By.XPATH, "//button[normalize-space()='Predict']").click()
    return wait


def test_upload_shows_the_five_values(browser, demo_url, offline_run, test_images, output_dir):
    # unrounded, as the page rounds
    expected = dict(zip(TARGETS, Predictor.from_run(offline_run).predict(test_images[0]).values()))
    wait = _upload_and_predict(browser, demo_url, test_images[0])
    wait.until(lambda d: f"{expected['calories']:.0f} kcal" in d.find_element('tag name', 'body').text)
    page = browser.find_element('tag name', 'body').text
    browser.save_screenshot(str(output_dir/'demo_prediction.png'))
    for t in TARGETS:
        assert NAMES[t] in page
        assert f"{expected[t]:.0f} {UNITS[t]}" in page, t
    assert 'cafeteria' in page


def test_bad_upload_shows_a_sentence_not_a_traceback(browser, demo_url, tmp_path, output_dir):
    bad = tmp_path/'notes.jpg'
    bad.write_text('shopping list: rice, beans')
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    browser.get(demo_url)
    wait = WebDriverWait(browser, 120)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, 'input[type=file]')).send_keys(str(bad))
    browser.find_element(By.XPATH, "//button[normalize-space()='Predict']").click()
    wait.until(lambda d: 'not an image file' in d.find_element('tag name', 'body').text)
    browser.save_screenshot(str(output_dir/'demo_bad_upload.png'))
    page = browser.find_element('tag name', 'body').text
    assert 'notes.jpg' in page and 'Traceback' not in page


def test_correcting_the_plate_recomputes_the_totals(browser, demo_url, offline_run, test_images, output_dir):
    """In the page: predict a photo, untick its first ingredient and change the grams of the second; the values shown are
    the ones the library computes from the same answer (`Predictor.correct`). The screenshot stays in the test output."""
    import re, time
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from nutrition_predictor.plate import NutritionPrediction
    predictor = Predictor.from_run(offline_run)
    path, pred = next((p, a) for p in test_images if len((a := predictor.predict(p)).ingredients) >= 2 and not a.unlike_training)
    wait = _upload_and_predict(browser, demo_url, path)
    cell = lambda r, c: browser.find_element(By.CSS_SELECTOR, f'#plate-ingredients [data-testid="cell-{r}-{c}"]')
    wait.until(lambda d: cell(1, 1).text == pred.ingredients[1].name)
    def on_page(field='calories_kcal'):
        "The value the page's JSON (`#plate-values`, scrolled into view: the viewer draws what is seen) shows for `field`."
        text = browser.execute_script("const e = document.getElementById('plate-values'); e.scrollIntoView(); return "
                                      "e.textContent;")
        m = re.search(rf'"{field}":\s*([-\d.]+)', text)
        return float(m.group(1)) if m else None
    answer = NutritionPrediction.from_dict(pred.to_dict(), predictor.nutrients)     # what the page keeps: the rounded answer
    first, second = answer.ingredients[:2]
    cell(0, 0).find_element(By.CSS_SELECTOR, 'input[type=checkbox]').click()
    untick = predictor.correct(answer, [(first.ingr_id, 0)]).to_dict()
    wait.until(lambda d: on_page() == untick['calories_kcal'])
    ActionChains(browser).double_click(cell(1, 2)).perform(); time.sleep(0.5)
    editor = browser.switch_to.active_element
    editor.send_keys(Keys.CONTROL, 'a'); editor.send_keys('77'); editor.send_keys(Keys.ENTER)
    both = predictor.correct(answer, [(first.ingr_id, 0), (second.ingr_id, 77.)]).to_dict()
    wait.until(lambda d: on_page() == both['calories_kcal'])
    page = browser.find_element(By.TAG_NAME, 'body').text
    browser.set_window_size(1400, 2200); browser.execute_script("window.scrollTo(0, 0)")       # the totals and the edited list
    browser.save_screenshot(str(output_dir/'demo_corrected_plate.png'))
    assert both['calories_kcal'] != pred.to_dict()['calories_kcal'] and 'Corrected by you' in page
    for f in ('calories_kcal', 'mass_g', 'fat_g', 'carb_g', 'protein_g', 'energy_kj'): assert on_page(f) == both[f], f


def test_api_docs_render_without_the_network(tmp_path, output_dir):
    """`/docs` of `serve` (the shipped model, the API alone) in a browser whose every request outside this machine goes to a
    dead proxy: Swagger UI's files are served by the app itself, and the page lists the API's operations."""
    from selenium.webdriver.support.ui import WebDriverWait
    from conftest import loopback_server
    from nutrition_predictor.serve import serve_app
    with loopback_server(serve_app(None, ui=False)) as base:
        # a dead proxy for all but loopback (Chromium's default bypass)
        driver = _chromium(tmp_path, '--proxy-server=http://127.0.0.1:9')
        try:
            driver.get(f'{base}/docs')
            WebDriverWait(driver, 120).until(lambda d: d.find_elements('css selector', '.opblock-summary-path'))
            paths = {e.text.replace('\u200b', '') for e in driver.find_elements('css selector', '.opblock-summary-path')}
            driver.save_screenshot(str(output_dir/'api_docs_offline.png'))
            assert {'/v1/predict', '/v1/correct', '/health'} <= paths, paths
            assert 'cdn' not in driver.page_source.lower()
        finally: driver.quit()
