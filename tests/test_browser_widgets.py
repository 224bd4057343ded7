"The course's widgets in a real JupyterLab: headless Chromium opens a notebook, runs it, and drives the controls."
import importlib.util, json, os, re, shutil, socket, subprocess, sys, time, urllib.error, urllib.request
import pytest

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync']
WAIT_MS = 60_000  # the longest any single step may wait
KERNEL_IDLE = 'Python 3 (ipykernel) | Idle'

# What the notebook shows: an untrained model is enough to check the wiring, and builds in a second.
SETUP = """\
import tiny_transformer as tt
tt.set_seed(0)
tok = tt.CharTokenizer.from_text("ROMEO: But soft, what light through yonder window breaks? KING: my lord\\nI will")
model = tt.TinyTransformer(tt.ModelConfig(vocab_size=tok.vocab_size, d_model=32, n_heads=2, n_layers=2, max_len=32))"""
ATTENTION = "tt.attention_explorer(model, tok, 'ROMEO: But soft')"
SAMPLING = "tt.sampling_explorer(model, tok, 'ROMEO: I will')"

# Settings that make a fresh JupyterLab testable: render every cell's output (JupyterLab 4 skips off-screen
# ones by default) and keep the "Jupyter news" notification from covering the page.
LAB_SETTINGS = {
    '@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'},
    '@jupyterlab/apputils-extension/notification.jupyterlab-settings': {'fetchNews': 'false'},
}

# sha256 of the PNG an <img> shows, so a redraw is checked by its pixels' bytes, not only by a new blob URL.
PNG_DIGEST_JS = """async img => {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    return Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), b => b.toString(16).padStart(2, '0')).join('');
}"""


def _missing():
    "Why this machine cannot run the test, or None."
    try: import playwright.sync_api  # noqa: F401
    except ImportError: return "playwright is not installed (pip install -e '.[dev]')"
    if CHROMIUM is None: return "chromium is not installed (apt-get install chromium); .ci/run installs it"
    if importlib.util.find_spec('jupyterlab') is None: return "jupyterlab is not installed (pip install -e '.[dev]')"
    return None

MISSING = _missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _write_notebook(path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    nb = new_notebook(cells=[new_code_cell(SETUP), new_code_cell(ATTENTION), new_code_cell(SAMPLING)],
                      metadata={'kernelspec': {'name': 'python3', 'display_name': 'Python 3 (ipykernel)', 'language': 'python'}})
    nbformat.write(nb, str(path))


def _api(url, method='GET'):
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
        body = r.read()
    return json.loads(body) if body else None


@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on 127.0.0.1 serving a notebook that shows both explorers; yields the notebook's URL."
    work, home = tmp_path / 'work', tmp_path / 'jupyter'
    work.mkdir()
    _write_notebook(work / 'widgets.ipynb')
    settings = home / 'lab-settings'
    for name, value in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    env = {**os.environ, 'JUPYTER_CONFIG_DIR': str(home / 'config'), 'JUPYTER_DATA_DIR': str(home / 'data'),
           'JUPYTER_RUNTIME_DIR': str(home / 'runtime'), 'JUPYTERLAB_SETTINGS_DIR': str(settings),
           'JUPYTERLAB_WORKSPACES_DIR': str(home / 'workspaces'), 'IPYTHONDIR': str(home / 'ipython'),
           'TINY_TRANSFORMER_DEVICE': 'cpu', 'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1'}
    port, token = _free_port(), os.urandom(16).hex()
    base = f'http://127.0.0.1:{port}'
    log = (tmp_path / 'jupyterlab.log').open('w')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip=127.0.0.1', f'--port={port}',
         f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={work}', '--allow-root',
         '--LabApp.extension_manager=readonly', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate'],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                _api(f'{base}/api/status?token={token}')
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline: pytest.fail(f"jupyter lab did not answer on port {port} within {WAIT_MS // 1000} s")
                time.sleep(0.25)
        yield f'{base}/lab/tree/widgets.ipynb?token={token}'
    finally:
        # Shut the kernels down through the server first, so none outlives it, then stop the server by its PID.
        if proc.poll() is None:
            try:
                for k in _api(f'{base}/api/kernels?token={token}'):
                    _api(f"{base}/api/kernels/{k['id']}?token={token}", method='DELETE')
            except (urllib.error.URLError, ConnectionError, TimeoutError): pass
            proc.terminate()
            try: proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill(); proc.wait(timeout=5)
        log.close()


@pytest.fixture
def page(lab, tmp_path):
    "A Chromium page on the notebook, with every cell run and the kernel idle again; screenshots it on teardown."
    from playwright.sync_api import sync_playwright, expect
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            pg = browser.new_page(viewport={'width': 1400, 'height': 1000})
            pg.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            pg.goto(lab)
            pg.locator('.jp-NotebookPanel .jp-Cell').first.wait_for()
            # The toolbar says idle before the kernel is connected, and Run All then runs nothing: wait for the status bar.
            expect(pg.locator('.jp-StatusBar-TextItem', has_text=KERNEL_IDLE)).to_be_visible()
            pg.get_by_role('menuitem', name='Run', exact=True).click()
            pg.get_by_role('menuitem', name='Run All Cells', exact=True).click()
            yield pg
            pg.screenshot(path=str(tmp_path / 'page.png'))
        finally:
            browser.close()


def _digest(img): return img.evaluate(PNG_DIGEST_JS)


def _redraws(img, action):
    "Run `action` and wait until `img` shows a new PNG; returns the new digest."
    from playwright.sync_api import expect
    src, digest = img.get_attribute('src'), _digest(img)
    action()
    expect(img).not_to_have_attribute('src', src)
    new = _digest(img)
    assert new != digest, "the image got a new src but the same PNG"
    return new


def _slider(box, description):
    "The slider labelled `description` inside the widget `box`."
    return box.locator('.widget-slider', has=box.page.locator('label', has_text=description))


def _press_slider(box, description, key='ArrowRight'):
    "Move the slider labelled `description` one step with the keyboard: focus its handle, press `key`."
    handle = _slider(box, description).locator('.noUi-handle')
    handle.focus()
    handle.press(key)


def test_explorers_render_and_redraw_in_jupyterlab(page, tmp_path):
    from playwright.sync_api import expect
    attention, sampling = page.locator('.tt-attention-explorer'), page.locator('.tt-sampling-explorer')
    att_img, smp_img = attention.locator('img'), sampling.locator('img')
    for widget, img in ((attention, att_img), (sampling, smp_img)):
        expect(widget).to_be_visible()
        expect(img).to_be_visible()
        expect(img).to_have_attribute('src', re.compile(r'^blob:'))
        assert img.evaluate('async i => { await i.decode(); return i.naturalWidth > 100 && i.naturalHeight > 100; }'), "the PNG is too small"
    expect(page.locator('.jp-StatusBar-TextItem', has_text=KERNEL_IDLE)).to_be_visible()

    # The layer slider, moved with the keyboard as a learner would, redraws the heatmap.
    _redraws(att_img, lambda: _press_slider(attention, 'layer'))
    expect(_slider(attention, 'layer').locator('.widget-readout')).to_have_text('1')

    # A new text in the box (sent on Enter: continuous_update=False) redraws it again.
    text = attention.locator('.widget-text input')
    _redraws(att_img, lambda: (text.fill(''), text.press_sequentially('KING: my lord'), text.press('Enter')))
    expect(attention.locator('.widget-label', has_text='empty')).to_have_count(0)
    attention.screenshot(path=str(tmp_path / 'attention.png'))

    # Top-k from 0 (off) to 1 greys out all but one bar.
    _redraws(smp_img, lambda: _press_slider(sampling, 'top-k'))
    expect(_slider(sampling, 'top-k').locator('.widget-readout')).to_have_text('1')
    sampling.screenshot(path=str(tmp_path / 'sampling.png'))

    # An empty prompt keeps the last picture and says what is wrong.
    prompt = sampling.locator('.widget-text input')
    prompt.fill('')
    prompt.press('Enter')
    error = sampling.locator('.widget-label', has_text='prompt is empty')
    expect(error).to_be_visible()

    # A prompt typed back in clears the message and redraws.
    _redraws(smp_img, lambda: (prompt.press_sequentially('KING:'), prompt.press('Enter')))
    expect(error).to_have_count(0)
