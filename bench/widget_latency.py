"""Key press -> new picture: how long a learner waits for each explorer of lesson 09b, in a real JupyterLab + Chromium.

Starts JupyterLab on 127.0.0.1 (as tests/test_browser_widgets.py does), runs a notebook showing the three explorers on
a lesson-sized model, then presses keys on each control. A `keydown` listener stamps the press; a MutationObserver on
the explorer's picture stamps the first animation frame after the picture changed. Controls that change the input
(a new text or prompt, the "next character" button) run the model; a new text or a new step moves the query
and the step shown to the last character, so those two sliders are pressed leftwards in every round; the others (layer, head, query, temperature,
top-k, top-p, show step) must only redraw.

    python bench/widget_latency.py --repeats 15
"""
import argparse, datetime, os, statistics, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
from test_browser_widgets import MISSING, jupyter_lab, notebook_page, slider  # noqa: E402

# The lesson's model shape (2 layers, 4 heads, d_model 64, context 64) and the corpus' tokenizer. Untrained weights
# cost exactly as much to run and draw as trained ones, and keep the benchmark free of a training run.
SETUP = """\
import tiny_transformer as tt
tt.set_seed(0)
tok = tt.CharTokenizer.from_text(tt.load_corpus()[:200_000])
model = tt.TinyTransformer(tt.ModelConfig(vocab_size=tok.vocab_size, d_model=64, n_heads=4, n_layers=2, max_len=64))"""
# The floor: a slider whose observer only writes its value into an HTML widget (JupyterLab's round trip, no drawing).
BASELINE = """\
import ipywidgets as widgets
_s, _h = widgets.IntSlider(description='value'), widgets.HTML('0')
_h.add_class('tt-picture'); _s.observe(lambda c: setattr(_h, 'value', f'<b>{c["new"]}</b>'), names='value')
_b = widgets.VBox([_s, _h]); _b.add_class('tt-baseline-explorer'); _b"""
CELLS = (SETUP, "tt.attention_explorer(model, tok, 'ROMEO: But soft, what light')",
         "tt.sampling_explorer(model, tok, 'JULIET: O Romeo, Romeo')", "tt.generation_explorer(model, tok, 'ROMEO:', seed=0)",
         BASELINE)

ARM = """picture => {
    if (window.__ttObserver) window.__ttObserver.disconnect();
    const st = window.__tt = {t0: null, t1: null};
    if (!window.__ttKeys) { window.__ttKeys = true;
        document.addEventListener('keydown', () => { if (window.__tt && window.__tt.t0 === null) window.__tt.t0 = performance.now(); }, true); }
    window.__ttObserver = new MutationObserver(() => {
        if (st.t0 !== null && st.t1 === null) requestAnimationFrame(() => { if (st.t1 === null) st.t1 = performance.now(); });
    });
    window.__ttObserver.observe(picture, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def measure(page, picture, action)->float:
    "Milliseconds from the key press in `action` to the first frame after `picture` changed."
    picture.evaluate(ARM)
    action()
    page.wait_for_function('window.__tt.t1 !== null', timeout=30_000)
    ms = page.evaluate('window.__tt.t1 - window.__tt.t0')
    page.wait_for_timeout(80)  # let the kernel go idle, as between a learner's key presses
    return ms


def slider_keys(box, description, keys):
    "An action per press: focus the slider's handle and press the next key of `keys` (cycled)."
    handle = slider(box, description).locator('.noUi-handle')
    state = {'i': 0}
    def press():
        handle.focus(); handle.press(keys[state['i'] % len(keys)]); state['i'] += 1
    return press


def enter_new_text(box):
    "An action per press: add a character to the text box (not sent yet), then press Enter, which sends it."
    field, state = box.locator('.widget-text input'), {'i': 0}
    def arm_and_type():
        field.press_sequentially('ab'[state['i'] % 2]); state['i'] += 1
    return arm_and_type, lambda: field.press('Enter')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=15, help='key presses per control')
    args = ap.parse_args()
    if MISSING: sys.exit(f"cannot run: {MISSING}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp, jupyter_lab(Path(tmp), CELLS) as url, notebook_page(url) as page:
        from playwright.sync_api import expect
        explorers = {name: page.locator(f'.tt-{name}-explorer') for name in ('attention', 'sampling', 'generation', 'baseline')}
        for name, box in explorers.items(): expect(box.locator('.tt-picture')).to_be_visible()
        gen = explorers['generation']
        next_button = gen.get_by_role('button', name='next character')
        for _ in range(3): next_button.click()  # some steps to look at
        expect(gen.locator('[data-step]')).to_have_attribute('data-step', '3')
        plan = [('attention', 'layer', False, slider_keys(explorers['attention'], 'layer', ['ArrowRight', 'ArrowLeft'])),
                ('attention', 'head', False, slider_keys(explorers['attention'], 'head', ['ArrowRight', 'ArrowLeft'])),
                ('attention', 'query char', False, slider_keys(explorers['attention'], 'query', ['ArrowLeft'])),
                ('attention', 'text + Enter', True, enter_new_text(explorers['attention'])),
                ('sampling', 'temperature', False, slider_keys(explorers['sampling'], 'temperature', ['ArrowLeft', 'ArrowRight'])),
                ('sampling', 'top-k', False, slider_keys(explorers['sampling'], 'top-k', ['ArrowRight', 'ArrowLeft'])),
                ('sampling', 'top-p', False, slider_keys(explorers['sampling'], 'top-p', ['ArrowLeft', 'ArrowRight'])),
                ('sampling', 'prompt + Enter', True, enter_new_text(explorers['sampling'])),
                ('generation', 'layer', False, slider_keys(gen, 'layer', ['ArrowRight', 'ArrowLeft'])),
                ('generation', 'head', False, slider_keys(gen, 'head', ['ArrowRight', 'ArrowLeft'])),
                ('generation', 'show step', False, slider_keys(gen, 'show step', ['ArrowLeft'])),
                ('generation', 'next character (Enter)', True, lambda: (next_button.focus(), next_button.press('Enter'))),
                ('baseline', 'slider -> text (no drawing)', False, slider_keys(explorers['baseline'], 'value', ['ArrowRight', 'ArrowLeft']))]
        times = {(explorer, control): [] for explorer, control, _, _ in plan}
        for r in range(args.repeats + 1):  # round robin, so every control sees the same machine load; round 0 warms up
            for explorer, control, changes_input, action in plan:
                picture = explorers[explorer].locator('.tt-picture')
                if isinstance(action, tuple): action[0](); ms = measure(page, picture, action[1])
                else: ms = measure(page, picture, action)
                if r: times[explorer, control].append(ms)
        rows = [(explorer, control, changes_input, times[explorer, control]) for explorer, control, changes_input, _ in plan]
    load = os.getloadavg()
    print(f"\n{datetime.datetime.now():%Y-%m-%d %H:%M}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"{args.repeats} presses per control\n")
    print('| explorer | control | runs the model | median | 90th pct | max |\n|---|---|---|---|---|---|')
    for explorer, control, changes_input, t in rows:
        p90 = sorted(t)[int(0.9 * (len(t) - 1))]
        print(f"| {explorer} | {control} | {'yes' if changes_input else 'no'} | {statistics.median(t):.0f} ms | {p90:.0f} ms | {max(t):.0f} ms |")
    print('\n| explorer | median, all controls | median, controls that only redraw | median, controls that run the model |\n|---|---|---|---|')
    for explorer in ('attention', 'sampling', 'generation'):
        all_t = [x for e, _, _, t in rows if e == explorer for x in t]
        redraw = [x for e, _, c, t in rows if e == explorer and not c for x in t]
        run = [x for e, _, c, t in rows if e == explorer and c for x in t]
        print(f"| {explorer} | {statistics.median(all_t):.0f} ms | {statistics.median(redraw):.0f} ms | {statistics.median(run):.0f} ms |")


if __name__ == '__main__':
    main()
