"""The notebooks in colabs/ execute headlessly against a small study.

The study is a real tiny synthetic one when the training loop is available,
else one constructed on disk; the walkthrough runs with
PLAYBOOK_WALKTHROUGH_TRAIN=0 so that it analyses, compares and adopts without
training more trials.
"""

import importlib.util
import os
import shutil

import pytest
from study_templates import two_optimizer_study
from test_analysis_load import write_study, write_trial

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")



def _real_study(root, tmp_path):
    from playbook import cli

    config = two_optimizer_study(tmp_path / "study.py", steps=40, every=10, log_every=10)
    workdir = str(tmp_path / "real")
    assert cli.main(["study", "--config", str(config), "--workdir", workdir,
                     "--no_progress"]) == 0
    return workdir


def _constructed_study(tmp_path):
    study = write_study(tmp_path / "constructed", budget=3)
    for p, (lr_n, lr_a, wd) in enumerate([(0.01, 1e-3, 1e-5), (0.1, 1e-2, 1e-4),
                                          (0.9, 9e-2, 1e-3)]):
        write_trial(study, f"{2 * p:04d}", {"optimizer": "nesterov"},
                    {"learning_rate": lr_n, "weight_decay": wd},
                    status="diverged" if p == 2 else "done", objective=0.3 - 0.02 * p)
        write_trial(study, f"{2 * p + 1:04d}", {"optimizer": "adamw"},
                    {"learning_rate": lr_a, "weight_decay": wd}, objective=0.25 + 0.01 * p)
    write_trial(study, "0001-seed1", {"optimizer": "adamw"},
                {"learning_rate": 1e-3, "weight_decay": 1e-5}, objective=0.255, seed=1,
                repeats="0001")
    return study


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("notebooks")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if importlib.util.find_spec("playbook.train.loop") is not None:
        import pathlib

        return _real_study(pathlib.Path(root), tmp_path)
    return _constructed_study(tmp_path)


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


def test_analyze_study_notebook_draws_every_figure_and_the_findings(study_dir, tmp_path,
                                                                    monkeypatch, root):
    study = shutil.copytree(study_dir, tmp_path / "study")
    images, text = _execute("analyze_study.ipynb", str(study), tmp_path, monkeypatch, root)
    assert images == 2 + 4                     # two axis plots, isolation, 2 curves, best steps
    assert "baseline optimizer=adamw" in text
    assert "[warning]" in text or "[info]" in text or "no findings" in text


def test_walkthrough_notebook_analyses_compares_and_adopts(study_dir, tmp_path, monkeypatch,
                                                           root):
    study = shutil.copytree(study_dir, tmp_path / "study")
    images, text = _execute("walkthrough.ipynb", str(study), tmp_path, monkeypatch, root)
    assert images == 2 + 3
    assert "adopted optimizer=" in text
    assert os.path.exists(study / "next_baseline.py")
    assert os.path.exists(study / "report" / "index.html")
