"The course's widgets in a real JupyterLab: headless Chromium opens a notebook, runs it, and drives every control by keyboard and mouse."
import contextlib, importlib.util, json, os, re, shutil, socket, subprocess, sys, time, urllib.error, urllib.request
from pathlib import Path
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
GENERATION = "tt.generation_explorer(model, tok, 'ROMEO:', seed=0)"
CELLS = (SETUP, ATTENTION, SAMPLING, GENERATION)

# Settings that make a fresh JupyterLab testable: render every cell's output (JupyterLab 4 skips off-screen
# ones by default) and keep the "Jupyter news" notification from covering the page.
LAB_SETTINGS = {
    '@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'},
    '@jupyterlab/apputils-extension/notification.jupyterlab-settings': {'fetchNews': 'false'},
}


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


def _write_notebook(path, cells):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    nb = new_notebook(cells=[new_code_cell(c) for c in cells],
                      metadata={'kernelspec': {'name': 'python3', 'display_name': 'Python 3 (ipykernel)', 'language': 'python'}})
    nbformat.write(nb, str(path))


def _api(url, method='GET'):
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
        body = r.read()
    return json.loads(body) if body else None


@contextlib.contextmanager
def jupyter_lab(tmp_path:Path, cells=CELLS, extra_env=None):
    "A JupyterLab server on 127.0.0.1 serving a notebook of `cells`; yields the notebook's URL."
    work, home = tmp_path / 'work', tmp_path / 'jupyter'
    work.mkdir(parents=True)
    _write_notebook(work / 'widgets.ipynb', cells)
    settings = home / 'lab-settings'
    for name, value in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    env = {**os.environ, 'JUPYTER_CONFIG_DIR': str(home / 'config'), 'JUPYTER_DATA_DIR': str(home / 'data'),
           'JUPYTER_RUNTIME_DIR': str(home / 'runtime'), 'JUPYTERLAB_SETTINGS_DIR': str(settings),
           'JUPYTERLAB_WORKSPACES_DIR': str(home / 'workspaces'), 'IPYTHONDIR': str(home / 'ipython'),
           'TINY_TRANSFORMER_DEVICE': 'cpu', 'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1', **(extra_env or {})}
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
                raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                _api(f'{base}/api/status?token={token}')
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline: raise RuntimeError(f"jupyter lab did not answer on port {port} within {WAIT_MS // 1000} s")
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


@contextlib.contextmanager
def notebook_page(url:str, viewport=(1400, 1000)):
    "A Chromium page on the notebook at `url`, with every cell run; yields the page."
    from playwright.sync_api import sync_playwright, expect
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            pg = browser.new_page(viewport={'width': viewport[0], 'height': viewport[1]})
            pg.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            pg.goto(url)
            pg.locator('.jp-NotebookPanel .jp-Cell').first.wait_for()
            # The toolbar says idle before the kernel is connected, and Run All then runs nothing: wait for the status bar.
            expect(pg.locator('.jp-StatusBar-TextItem', has_text=KERNEL_IDLE)).to_be_visible()
            pg.get_by_role('menuitem', name='Run', exact=True).click()
            pg.get_by_role('menuitem', name='Run All Cells', exact=True).click()
            yield pg
        finally:
            browser.close()


@pytest.fixture
def artifacts(tmp_path):
    "Where screenshots go: $TT_ARTIFACTS if set, else the test's tmp folder."
    d = Path(os.environ.get('TT_ARTIFACTS') or tmp_path / 'artifacts')
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def page(tmp_path, artifacts):
    "A Chromium page on the notebook of the three explorers, every cell run; screenshots it on teardown."
    with jupyter_lab(tmp_path) as url, notebook_page(url) as pg:
        yield pg
        pg.screenshot(path=str(artifacts / 'page.png'), full_page=True)


def slider(box, description):
    "The slider labelled `description` inside the widget `box`."
    return box.locator('.widget-slider', has=box.page.locator('label', has_text=description))


def press_slider(box, description, key='ArrowRight'):
    "Move the slider labelled `description` one step with the keyboard: focus its handle, press `key`."
    handle = slider(box, description).locator('.noUi-handle')
    handle.focus()
    handle.press(key)


def click_slider(box, description, fraction):
    "Move the slider labelled `description` with the mouse: press on its handle and drag it to `fraction` of the track."
    s = slider(box, description)
    track, handle = s.locator('.noUi-target').bounding_box(), s.locator('.noUi-handle').bounding_box()
    mouse = box.page.mouse
    mouse.move(handle['x'] + handle['width'] / 2, handle['y'] + handle['height'] / 2)
    mouse.down()
    mouse.move(track['x'] + fraction * track['width'], track['y'] + track['height'] / 2, steps=5)
    mouse.up()


def title_of(picture):
    "The `data-title` of the (first) drawing in a picture widget: what it shows."
    return picture.locator('[data-title]').first.get_attribute('data-title')


def changes_title(picture, action):
    "Run `action` and wait until the picture's title changes; returns the new title."
    from playwright.sync_api import expect
    before = title_of(picture)
    action()
    expect(picture.locator('[data-title]').first).not_to_have_attribute('data-title', before)
    return title_of(picture)


def settles_on(picture, action, wanted, timeout_s=20):
    """Run `action` (a mouse drag, which may draw several pictures on its way) and wait until the title
    satisfies `wanted`, a test no pattern can say; returns that title, or fails with the last one seen."""
    action()
    deadline, title = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        title = title_of(picture)
        if title is not None and wanted(title): return title
        picture.page.wait_for_timeout(100)
    raise AssertionError(f"the picture never showed what was wanted; its last title: {title!r}")


def _check_square_and_unscaled(picture):
    "The heatmap is square, shown at the size it was drawn (no stretching), and fits a laptop screen."
    size = picture.locator('svg image').first.evaluate(
        'i => { const r = i.getBoundingClientRect(); return [r.width, r.height, +i.getAttribute("width"), +i.getAttribute("height")]; }')
    shown_w, shown_h, drawn_w, drawn_h = size
    assert abs(shown_w - drawn_w) < 0.5 and abs(shown_h - drawn_h) < 0.5, f"drawn {drawn_w}x{drawn_h}, shown {shown_w}x{shown_h}"
    assert drawn_w == drawn_h and drawn_h <= 600, size


def test_attention_explorer_by_keyboard_and_mouse(page, artifacts):
    from playwright.sync_api import expect
    attention = page.locator('.tt-attention-explorer')
    picture = attention.locator('.tt-attention-picture')
    expect(picture.locator('svg')).to_be_visible()
    assert title_of(picture).startswith('layer 0, head 0'), title_of(picture)
    _check_square_and_unscaled(picture)
    labels = picture.locator('svg text').all_text_contents()
    assert '␣' in labels, "a space must show as a visible glyph"

    # Keyboard: layer, head and query sliders, each by an arrow key on its handle.
    assert changes_title(picture, lambda: press_slider(attention, 'layer')).startswith('layer 1, head 0')
    assert changes_title(picture, lambda: press_slider(attention, 'head')).startswith('layer 1, head 1')
    assert 'position 13' in changes_title(picture, lambda: press_slider(attention, 'query', 'ArrowLeft'))
    # Mouse: drag the head slider to its start ("all") and the layer slider back to 0.
    # A drag draws every value it passes: wait for the one it ends on.
    click_slider(attention, 'head', 0.0)
    expect(picture.locator('[data-title]').first).to_have_attribute('data-title', re.compile(r'^layer 1, all heads'))
    expect(picture.locator('svg image')).to_have_count(2)
    click_slider(attention, 'layer', 0.0)
    expect(picture.locator('[data-title]').first).to_have_attribute('data-title', re.compile(r'^layer 0, all heads'))
    # A new text (sent on Enter) redraws, and the query moves to its last character.
    text = attention.locator('.widget-text input')
    new = changes_title(picture, lambda: (text.fill(''), text.press_sequentially('KING: my lord'), text.press('Enter')))
    assert "'d' (position 12)" in new, new
    attention.screenshot(path=str(artifacts / 'attention.png'))


def test_sampling_explorer_by_keyboard_and_mouse(page, artifacts):
    from playwright.sync_api import expect
    sampling = page.locator('.tt-sampling-explorer')
    picture = sampling.locator('.tt-sampling-picture')
    expect(picture.locator('svg')).to_be_visible()
    vocab = int(re.search(r'of (\d+) kept', title_of(picture)).group(1))
    assert title_of(picture).endswith(f'{vocab} of {vocab} kept')
    expect(picture.locator('svg text', has_text='filtered out')).to_have_count(1)  # the legend

    # Keyboard: top-k from 0 (off) to 1 keeps one character.
    assert changes_title(picture, lambda: press_slider(sampling, 'top-k')).endswith(f'1 of {vocab} kept')
    press_slider(sampling, 'top-k', 'ArrowLeft')
    expect(picture.locator('[data-title]').first).to_have_attribute('data-title', re.compile(f'{vocab} of {vocab} kept$'))
    # Mouse: top-p dragged to its low end keeps fewer than all.
    def kept(title): return int(re.search(r'(\d+) of', title).group(1))
    title = settles_on(picture, lambda: click_slider(sampling, 'top-p', 0.0), lambda t: kept(t) < vocab)
    assert kept(title) >= 1, title
    # Keyboard on temperature: one step down from 1.0 keeps the same set but redraws.
    press_slider(sampling, 'temperature', 'ArrowLeft')
    expect(slider(sampling, 'temperature').locator('.widget-readout')).to_have_text('0.95')
    sampling.screenshot(path=str(artifacts / 'sampling.png'))

    # An empty prompt says what is wrong; a prompt typed back clears it.
    prompt = sampling.locator('.widget-text input')
    prompt.fill(''); prompt.press('Enter')
    error = sampling.locator('.widget-label', has_text='prompt is empty')
    expect(error).to_be_visible()
    prompt.press_sequentially('KING:'); prompt.press('Enter')
    expect(error).to_have_count(0)
    expect(picture.locator('svg')).to_be_visible()


def _step_is_shown(picture, k):
    "Step `k`: the text grew to k new characters, and the distribution and the attention are drawn for it."
    from playwright.sync_api import expect
    expect(picture.locator('[data-step]')).to_have_attribute('data-step', str(k))
    svgs = picture.locator('svg')
    expect(svgs).to_have_count(2)  # the distribution, the attention
    assert svgs.nth(0).get_attribute('data-title').startswith(f'step {k}: drew ')
    assert 'where the new position' in svgs.nth(1).get_attribute('data-title')
    assert svgs.nth(0).locator('rect[stroke]').count() >= 1, "the chosen character is framed"
    return picture.locator('.tt-generated-text').inner_text()


def test_generation_explorer_steps_through_text(page, artifacts):
    from playwright.sync_api import expect
    gen = page.locator('.tt-generation-explorer')
    picture = gen.locator('.tt-generation-picture')
    expect(picture.locator('.tt-generated-text')).to_have_text('ROMEO:')
    next_button, run_button = gen.get_by_role('button', name='next character'), gen.get_by_role('button', name='run 20')

    texts = []
    for k in range(1, 21):  # ten steps by keyboard (Enter on the focused button), ten by mouse
        if k <= 10: next_button.focus(); next_button.press('Enter')
        else: next_button.click()
        texts.append(_step_is_shown(picture, k))
        if k in (1, 10, 20): gen.screenshot(path=str(artifacts / f'generation-step-{k:02d}.png'))
    lengths = [len(t) for t in texts]
    assert lengths == list(range(7, 27)), lengths  # one character per step
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:]))

    run_button.click()
    _step_is_shown(picture, 40)
    # Layer and head (keyboard and mouse) only redraw the attention of the step shown.
    attention = picture.locator('svg').nth(1)
    press_slider(gen, 'layer')
    expect(attention).to_have_attribute('data-title', re.compile(r'^layer 1, head 0'))
    click_slider(gen, 'head', 1.0)
    expect(attention).to_have_attribute('data-title', re.compile(r'^layer 1, head 1'))
    # The step slider goes back in time: step 39 by keyboard, the first step by mouse.
    press_slider(gen, 'show step', 'ArrowLeft')
    _step_is_shown(picture, 39)
    click_slider(gen, 'show step', 0.0)
    _step_is_shown(picture, 1)
    gen.screenshot(path=str(artifacts / 'generation-step-back.png'))

    # Restart with the same seed writes the same text.
    gen.get_by_role('button', name='restart').click()
    expect(picture.locator('.tt-generated-text')).to_have_text('ROMEO:')
    run_button.click()
    assert _step_is_shown(picture, 20) == texts[-1]
