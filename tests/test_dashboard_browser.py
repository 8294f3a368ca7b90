"""`playbook serve` and the static report in headless Chromium (driven by Playwright, with
Debian's chromium; skipped where either is missing).

The served directory holds two studies written as the runner writes them: one
still running, whose page must draw its figures and count a trial that finishes
without being reloaded, and one whose trial values are HTML that must not run.
With PLAYBOOK_DOCS_SCREENSHOT=1 the running study's page is saved as
docs/dashboard.png (the README's picture).
"""

import fcntl
import json
import os
import pathlib
import shutil
import threading

import numpy as np
import pytest
from dashboard_studies import XSS, finish, hostile_study
from extra_modules import require
from test_analysis_load import NUISANCE as LR_WD
from test_analysis_load import write_study, write_trial

from playbook.analysis import commands
from playbook.dashboard import server as server_lib

playwright = require("playwright.sync_api", "dev")
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and os.path.exists(p)),
                None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DOCS = os.path.join(os.path.dirname(__file__), "..", "docs", "dashboard.png")


def running_study(root) -> str:
    """Six points x two optimizers: ten done, one diverged, 0011 not finished yet."""
    root = write_study(root, nuisance=LR_WD, budget=6, name="optimizers")
    rng = np.random.default_rng(3)
    for p in range(6):
        for s, (opt, low, high) in enumerate((("nesterov", 1e-3, 1.0), ("adamw", 1e-4, 1e-1))):
            trial_id = f"{2 * p + s:04d}"
            lr = float(low * (high / low) ** rng.uniform())
            wd = float(10 ** rng.uniform(-6, -2))
            objective = 0.2 + 0.04 * (np.log10(lr / high) + 1.5) ** 2 + 0.02 * s
            write_trial(root, trial_id, {"optimizer": opt}, {"learning_rate": lr,
                                                              "weight_decay": wd},
                        status="diverged" if trial_id == "0010" else "done",
                        objective=objective, result=trial_id != "0011")
    return root


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    parent = tmp_path_factory.mktemp("served")
    clean = running_study(parent / "a_running")
    hostile = hostile_study(parent / "b_hostile")
    server = server_lib.make_server(parent, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", clean, hostile
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def _rendered(page, selector):
    """For each element matching `selector`, whether Plotly drew an SVG into it."""
    return page.eval_on_selector_all(
        selector, "els => els.map(e => [e.id, !!e.querySelector('.main-svg')])")


@pytest.mark.slow
def test_the_dashboard_draws_a_running_study_and_counts_a_trial_that_finishes(served, browser):
    base, root, _ = served
    trial = os.path.join(root, "trials", "0011")
    with open(os.path.join(trial, "metrics.jsonl"), "w") as f:     # trained 120 steps so far
        f.writelines(json.dumps({"step": s, "train/loss": 1.0 / s}) + "\n"
                     for s in range(20, 121, 20))
    lock = open(os.path.join(trial, "lock"), "a")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)                 # claimed, as by a runner
    page = browser.new_page(viewport={"width": 1400, "height": 1700})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base + "/")
    page.click("text=optimizers")
    page.wait_for_selector("#figure-importance .main-svg", timeout=60_000)
    page.wait_for_selector("#curves-figure .main-svg", timeout=60_000)
    assert "0011 step 120/200" in page.text_content("#progress")
    drawn = _rendered(page, ".figure")
    assert {name for name, ok in drawn if ok} == {
        "figure-axis_learning_rate", "figure-axis_weight_decay", "figure-isolation",
        "figure-parallel", "figure-importance", "curves-figure"}
    assert page.text_content("#count-finished") == "11"
    assert page.text_content("#count-total") == "12"
    crosses = page.eval_on_selector_all("#figure-axis_learning_rate .scatterlayer .point",
                                        "els => els.length")
    assert crosses == 11                                 # 10 done + 1 infeasible cross
    if os.environ.get("PLAYBOOK_DOCS_SCREENSHOT"):
        page.wait_for_timeout(500)
        page.screenshot(path=DOCS, full_page=False)
    finish(root, "0011")                                 # as the trial does when it ends
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    page.wait_for_function(
        "document.getElementById('count-finished').textContent === '12'", timeout=30_000)
    assert "12 done" not in page.text_content("#counts")  # 11 done + 1 infeasible
    assert "11 done, 1 infeasible" in page.text_content("#counts")
    assert errors == []


def test_html_in_trial_values_is_shown_as_text_and_never_runs(served, browser):
    base, _, _ = served
    page = browser.new_page()
    page.goto(base + "/s/1/")
    page.wait_for_selector("#figure-axis_model_activation .main-svg", timeout=60_000)
    page.wait_for_selector("#trials-table td", timeout=60_000)
    assert page.evaluate("window.__pwned") is None
    assert XSS in page.text_content("#trials-table")    # shown literally
    assert "study " + XSS in page.text_content("#summary")
    ticks = page.eval_on_selector_all("#figure-axis_model_activation .xtick text",
                                      "els => els.map(e => e.textContent)")
    assert XSS in ticks
    page.goto(base + "/s/1/trial/0003")
    page.wait_for_selector("#trial-curves .main-svg", timeout=60_000)
    assert XSS in page.text_content("#trial-summary")
    assert page.text_content("#retrain").splitlines() == [
        f"curl -so trial_0003.py {base}/s/1/trial/0003/config.py",
        "playbook train --config trial_0003.py --workdir runs/trial_0003"]
    assert page.evaluate("window.__pwned") is None


def test_the_trial_page_lists_its_checkpoints_with_the_best_and_the_latest(served, browser):
    """As train/checkpoints.py (orbax) lays them out: checkpoints/<step>/, the metrics of a
    step that competes for best in <step>/metrics/metrics; a save in progress is a tmp
    directory, not a checkpoint."""
    base, root, _ = served
    folder = os.path.join(root, "trials", "0002", "checkpoints")
    os.makedirs(os.path.join(folder, "1500", "metrics"))
    with open(os.path.join(folder, "1500", "metrics", "metrics"), "w") as f:
        json.dump({"valid/error_rate": 0.21}, f)
    os.makedirs(os.path.join(folder, "2000", "state"))             # the latest, no metrics
    os.makedirs(os.path.join(folder, "2500.orbax-checkpoint-tmp-1"))
    page = browser.new_page()
    page.goto(base + "/s/0/trial/0002")
    page.wait_for_selector("#checkpoints-saved", timeout=60_000)
    text = page.text_content("#trial-checkpoint")
    assert "holds step 1500 (best), step 2000 (latest)" in text
    assert f"Best checkpoint: {folder}/1500 (step 1500)" in text
    assert f"Latest checkpoint: {folder}/2000 (step 2000)" in text
    assert "nothing yet" not in text and "2500" not in text


@pytest.mark.slow
def test_the_static_report_draws_its_interactive_figures_offline(served, browser, tmp_path):
    _, root, _ = served
    assert commands.report(root) == 0
    copy = tmp_path / "report"                           # the folder alone, moved elsewhere
    shutil.copytree(os.path.join(root, "report"), copy)
    context = browser.new_context()
    requested = []
    context.route("**/*", lambda route: (requested.append(route.request.url), route.abort())
                  if not route.request.url.startswith("file:") else route.continue_())
    page = context.new_page()
    page.goto((copy / "index.html").as_uri())
    page.wait_for_selector("#plotly-importance .main-svg", timeout=60_000)
    drawn = _rendered(page, ".plotly-figure")
    assert len(drawn) == 6 and all(ok for _, ok in drawn)
    assert requested == []                               # nothing from the network
    assert page.eval_on_selector_all("img", "els => els.filter(e => e.naturalWidth > 0).length") >= 5
    context.close()


LONG_NUISANCE = {
    "learning_rate": {"kind": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
    "weight_decay": {"kind": "float", "low": 1e-6, "high": 1e-2, "scale": "log"},
    "warmup_fraction": {"kind": "float", "low": 0.0, "high": 0.2, "scale": "linear"},
    "grad_clip_norm": {"kind": "float", "low": 0.1, "high": 10.0, "scale": "log"},
    "lr_end_factor": {"kind": "float", "low": 0.0, "high": 0.5, "scale": "linear"},
}


@pytest.mark.slow
def test_the_report_fits_its_page_without_clipped_titles_or_overlapping_labels(
        tmp_path, browser):
    # Five nuisance keys with long names, and seed reruns: the comparison's lines, the
    # isolation plot's title and the parallel-coordinates labels are at their longest.
    root = write_study(tmp_path / "s", nuisance=LONG_NUISANCE, budget=6, name="long_names")
    rng = np.random.default_rng(0)
    for p in range(6):
        for s, opt in enumerate(("nesterov", "adamw")):
            values = {"learning_rate": float(10 ** rng.uniform(-4, 0)),
                      "weight_decay": float(10 ** rng.uniform(-6, -2)),
                      "warmup_fraction": float(rng.uniform(0, 0.2)),
                      "grad_clip_norm": float(10 ** rng.uniform(-1, 1)),
                      "lr_end_factor": float(rng.uniform(0, 0.5))}
            write_trial(root, f"{2 * p + s:04d}", {"optimizer": opt}, values,
                        objective=0.2 + 0.05 * rng.uniform() + 0.02 * s)
    for s, (trial, opt) in enumerate((("0000", "nesterov"), ("0001", "adamw"))):
        for seed in (1, 2, 3):
            write_trial(root, f"{trial}-seed{seed}", {"optimizer": opt},
                        json.load(open(os.path.join(root, "trials", trial, "trial.json")))[
                            "nuisance"], seed=seed, repeats=trial,
                        objective=0.21 + 0.01 * seed + 0.02 * s)
    assert commands.report(root) == 0
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(pathlib.Path(root, "report", "index.html").as_uri())
    page.wait_for_selector("#plotly-parallel .main-svg", timeout=60_000)
    page.wait_for_selector("#plotly-isolation .main-svg", timeout=60_000)
    overflowing = page.eval_on_selector_all(
        "pre", "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).length")
    assert overflowing == 0                              # no block scrolls sideways
    title, figure = page.evaluate("""() => {
        const fig = document.getElementById('plotly-isolation');
        const t = fig.querySelector('.gtitle').getBoundingClientRect();
        const f = fig.getBoundingClientRect();
        return [[t.left, t.right], [f.left, f.right]]; }""")
    assert figure[0] <= title[0] and title[1] <= figure[1]  # the whole title is inside
    boxes = page.eval_on_selector_all(
        "#plotly-parallel .axis-title", """els => els.map(e => {
            const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
    assert len(boxes) == 7                               # optimizer, 5 nuisance keys, metric
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, (a, b)                         # no two labels overlap
    page.close()
