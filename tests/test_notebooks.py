"""The notebooks in colabs/ execute headlessly against a small real study (a tiny
synthetic one trained once per module), and what they print and write is what the
study holds. The walkthrough runs with PLAYBOOK_WALKTHROUGH_TRAIN=0, so that it
analyses, compares and adopts without training more trials.
"""

import json
import os
import re
import shutil

import pytest
from extra_modules import require
from study_templates import two_optimizer_study

from playbook import analysis
from playbook import config as config_lib
from playbook.study.store import StudyStore, read_json

nbformat = require("nbformat", "dev")
nbclient = require("nbclient", "dev")
require("ipykernel", "dev")

BUDGET = 2  # trials per scientific value: fewer than the two nuisance dimensions need


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    from playbook import cli

    tmp_path = tmp_path_factory.mktemp("notebooks")
    config = two_optimizer_study(tmp_path / "study.py", budget=BUDGET, steps=40, every=10,
                                 log_every=10)
    workdir = str(tmp_path / "real")
    assert cli.main(["study", "--config", str(config), "--workdir", workdir,
                     "--no_progress"]) == 0
    return workdir


def _execute(name, study_dir, tmp_path, monkeypatch, root):
    monkeypatch.setenv("PLAYBOOK_STUDY_DIR", study_dir)
    monkeypatch.setenv("PLAYBOOK_WALKTHROUGH_TRAIN", "0")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(str(root / "colabs" / name), as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code"
               for o in cell.get("outputs", [])]
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    return images, text


def _best_original_trial(study_dir) -> tuple[str, dict]:
    """The done original trial with the lowest valid/error_rate, read from the trial files."""
    store = StudyStore(study_dir)
    scored = []
    for trial_id in store.trial_ids():
        trial = read_json(os.path.join(store.trial_dir(trial_id), "trial.json"))
        result = read_json(os.path.join(store.trial_dir(trial_id), "result.json"))
        if trial.get("repeats") is None and result["status"] == "done":
            scored.append((result["best"]["valid/error_rate"], trial_id, trial))
    _, trial_id, trial = min(scored, key=lambda s: s[0])
    return trial_id, trial


@pytest.mark.slow
def test_analyze_study_notebook_draws_every_figure_and_the_findings(study_dir, tmp_path,
                                                                    monkeypatch, root):
    study = shutil.copytree(study_dir, tmp_path / "study")
    images, text = _execute("analyze_study.ipynb", str(study), tmp_path, monkeypatch, root)
    assert images == 2 + 5   # two axis plots, isolation, 2 curves, best steps, expected best
    # Too few trials for two nuisance hyperparameters: the study is built to produce it.
    assert (f"[warning] too_few_trials: {BUDGET} trials per scientific value "
            "(optimizer=nesterov, optimizer=adamw) search 2 nuisance hyperparameters") in text
    findings = analysis.diagnose(analysis.Study.load(str(study)))
    assert findings and "no findings" not in text
    printed = [text.index(str(f)) for f in findings]  # every finding, in order
    assert printed == sorted(printed)
    assert analysis.comparison_text(analysis.Study.load(str(study))) in text


def _load_cells(name, cwd, monkeypatch, root, cells=4) -> str:
    """Runs the notebook's first `cells` cells (up to loading the study) in `cwd` without
    PLAYBOOK_STUDY_DIR; what they printed."""
    monkeypatch.delenv("PLAYBOOK_STUDY_DIR", raising=False)
    notebook = nbformat.read(str(root / "colabs" / name), as_version=4)
    notebook.cells = notebook.cells[:cells]
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}).execute()
    return "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.slow
def test_analyze_study_finds_the_readmes_study_from_the_root_or_colabs(study_dir, tmp_path,
                                                                     monkeypatch, root):
    """Without PLAYBOOK_STUDY_DIR the notebook analyses runs/mnist1d_optimizers, the study
    the README runs, whether Jupyter starts it in the repository root or in colabs/."""
    repo = tmp_path / "repo"
    study = shutil.copytree(study_dir, repo / "runs" / "mnist1d_optimizers")
    (repo / "colabs").mkdir()
    trials = len(analysis.Study.load(str(study)).trials)
    for cwd in (repo, repo / "colabs"):
        text = _load_cells("analyze_study.ipynb", cwd, monkeypatch, root)
        assert f"study directory: {study}\n" in text
        assert f": {trials} trials, metric valid/error_rate" in text


def test_analyze_study_without_a_study_says_where_it_looked_and_what_to_run(
        tmp_path, monkeypatch, root):
    with pytest.raises(nbclient.exceptions.CellExecutionError) as e:
        _load_cells("analyze_study.ipynb", tmp_path, monkeypatch, root)
    said = re.sub(r"\x1b\[[0-9;]*m", "", str(e.value))  # the traceback's colours
    assert "FileNotFoundError: no study in " in said
    assert str(tmp_path / "runs" / "mnist1d_optimizers") in said
    assert ("run the README's study first, from the repository root (playbook study --config "
            "configs/studies/mnist1d_optimizers.py --workdir runs/mnist1d_optimizers), or set "
            "PLAYBOOK_STUDY_DIR to a study directory") in said


@pytest.mark.slow
def test_walkthrough_notebook_analyses_compares_and_adopts(study_dir, tmp_path, monkeypatch,
                                                           root):
    study = shutil.copytree(study_dir, tmp_path / "study")
    shutil.rmtree(study / "report")  # the study wrote one: the notebook must write its own
    assert not os.path.exists(study / "decisions.jsonl")
    images, text = _execute("walkthrough.ipynb", str(study), tmp_path, monkeypatch, root)
    assert images == 2 + 3
    # The winner is the optimizer of the best trial; the next baseline is that trial's config.
    trial_id, trial = _best_original_trial(study)
    optimizer = trial["scientific"]["optimizer"]
    assert f"adopted optimizer={optimizer} (trial {trial_id}" in text
    baseline = config_lib.load(str(study / "next_baseline.py"))
    assert baseline.optimizer == optimizer
    assert baseline.learning_rate == pytest.approx(trial["nuisance"]["learning_rate"])
    assert baseline.weight_decay == pytest.approx(trial["nuisance"]["weight_decay"])
    with open(study / "decisions.jsonl") as f:
        (decision,) = [json.loads(line) for line in f]
    assert decision["adopted"] == {"optimizer": optimizer} and decision["trial_id"] == trial_id
    with open(study / "report" / "index.html") as f:
        assert trial_id in f.read()


def test_next_round_notebook_drafts_the_next_round_and_prints_the_chain(study_dir, tmp_path,
                                                                         monkeypatch, root):
    study = shutil.copytree(study_dir, tmp_path / "round1")
    _, text = _execute("next_round.ipynb", str(study), tmp_path, monkeypatch, root)
    assert "round 2: " in text and "designer" in text
    drafted = open(study / "next_study.py").read()
    assert "previous={" in drafted and "def get_config():" in drafted
    assert "1 round(s)" in text and "decision: adopted optimizer=" in text
