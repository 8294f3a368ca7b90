"""Every view of one real study with seed reruns counts the same trials and names the same
best: `playbook status`, `history`, `compare`, `rerun`'s summary, the report and the
dashboard's data (and `export`'s table holds those trials), each against the trial files
on disk (trial.json's `repeats`, result.json's status and objective; a pending trial
claimed by a runner is running). The project's rule: the trials of the search are
counted by status and ranked; seed reruns are counted apart and never ranked, and an
estimate from a selected trial's reruns leaves that trial out. Also: a trial's page
lists the checkpoints orbax keeps."""

import csv
import dataclasses
import fcntl
import html
import json
import os
import re
import statistics
from collections import Counter

import pytest
from study_templates import two_optimizer_study

from playbook import cli
from playbook.dashboard import state
from playbook.study import runner
from playbook.study.store import StudyStore

STATUSES = ("pending", "running", "done", "diverged", "failed")
METRIC = "valid/error_rate"
LABELS = ("optimizer=nesterov", "optimizer=adamw")


@dataclasses.dataclass
class Truth:
    """What the trial files say: per label ('' for the study) the trials of the search and
    the seed reruns by status, the best done trial of the search, every rerun's value."""

    search: dict
    reruns: dict
    best: dict
    rerun_values: dict


def truth(root, claimed=()) -> Truth:
    search = {label: Counter() for label in ("", *LABELS)}
    reruns = {label: Counter() for label in ("", *LABELS)}
    best, values = {}, {}
    for trial_id in sorted(os.listdir(os.path.join(root, "trials"))):
        folder = os.path.join(root, "trials", trial_id)
        with open(os.path.join(folder, "trial.json")) as f:
            record = json.load(f)
        result = None
        if os.path.exists(os.path.join(folder, "result.json")):
            with open(os.path.join(folder, "result.json")) as f:
                result = json.load(f)
        status = result["status"] if result else "running" if trial_id in claimed else "pending"
        label = f"optimizer={record['scientific']['optimizer']}"
        table = reruns if record.get("repeats") else search
        table[label][status] += 1
        table[""][status] += 1
        if status != "done":
            continue
        objective = result["best"][METRIC]
        if record.get("repeats"):
            values.setdefault(record["repeats"], []).append(objective)
        else:
            for key in (label, ""):
                if key not in best or objective < best[key][1]:  # minimize; ties: first id
                    best[key] = (trial_id, objective)
    return Truth(search, reruns, best, values)


COUNTED = re.compile(r"(\d+) trials of the search \(([^)]*)\); (?:no seed reruns|(\d+) seed "
                     r"reruns counted apart \(([^)]*)\), never the best)")


def counted(text: str) -> tuple[dict, dict]:
    """The statuses a view's 'counted' sentence names: (search, reruns)."""
    (match,) = COUNTED.findall(text)

    def parse(total, words):
        out = {s: 0 for s in STATUSES}
        for part in words.split(", "):
            if part != "none":
                n, status = part.split(" ")
                out[status] = int(n)
        assert sum(out.values()) == int(total or 0)
        return out

    return parse(match[0], match[1]), parse(match[2], match[3]) if match[2] else parse(0, "none")


def full(counter: Counter) -> dict:
    return {s: counter.get(s, 0) for s in STATUSES}


def run(capsys, *args) -> str:
    capsys.readouterr()
    assert cli.main(list(args)) == 0
    return capsys.readouterr().out


def check_views(root, t: Truth, capsys, report_command: bool = True) -> None:
    whole = (full(t.search[""]), full(t.reruns[""]))
    best_id, best_value = {}, {}
    for label in LABELS:
        best_id[label], best_value[label] = t.best[label]

    # playbook status: the table per scientific value and the sentence under it
    status = run(capsys, "status", root)
    assert counted(status) == whole
    for label in LABELS:
        row = next(line for line in status.splitlines() if line.startswith(label)).split()
        assert [int(x) for x in row[1:6]] == [t.search[label][s] for s in STATUSES]
        n = sum(t.reruns[label].values())
        assert row[6] == (f"{t.reruns[label]['done']}/{n}" if n else "-")
        assert row[7:] == [f"{best_value[label]:.4g}", f"({best_id[label]})"]

    # playbook history
    history = run(capsys, "history", root)
    assert counted(history) == whole
    for label in LABELS:
        assert f"best {label}: {best_value[label]:.4g} (trial {best_id[label]}," in history

    # playbook compare: each value's best trial of the search, its reruns without it
    compare = run(capsys, "compare", root)
    assert counted(compare) == whole
    for label in LABELS:
        line = next(x for x in compare.splitlines() if x.strip().startswith(label))
        assert f"trial {best_id[label]} scored {best_value[label]:.4g} when selected" in line
        values = t.rerun_values.get(best_id[label], [])
        if len(values) >= 2:
            assert (f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g} over "
                    f"{len(values)} seed reruns") in line

    # the report: as `playbook report` writes it (else as the command that ran last did)
    report = run(capsys, "report", root) if report_command else ""
    page = html.unescape(open(os.path.join(root, "report", "index.html")).read())
    trials_section = page[page.index("<h2>Trials</h2>"):page.index("<h2>Findings</h2>")]
    assert counted(trials_section) == whole
    for label in LABELS:
        cells = re.findall(r"<td>(.*?)</td>", trials_section.split(f"<td>{label}</td>")[1]
                           .split("</tr>")[0])
        assert [int(x) for x in cells[:5]] == [t.search[label][s] for s in STATUSES]
        assert cells[-1] == f"{best_value[label]:.4g} (trial {best_id[label]})"
    finished = t.search[""]["done"] + t.search[""]["diverged"]
    infeasible = (f"{t.search['']['diverged']} of {finished} finished trials of the search "
                  f"({t.search['']['diverged'] / finished:.0%}) are infeasible")
    assert infeasible in page
    if report_command:
        assert counted(report) == whole and infeasible in report

    # the dashboard's data: the page's counts, progress rows and findings
    view = state.study_view(root)
    groups = {"pending": "pending", "running": "running", "done": "done",
              "infeasible": "diverged", "failed": "failed"}
    assert counted(view["counts"]["text"]) == whole
    assert view["counts"]["total"] == sum(t.search[""].values())
    assert {g: view["counts"][g] for g in groups} == {g: t.search[""][s] for g, s in groups.items()}
    assert {g: view["counts"]["reruns"][g] for g in groups} == {
        g: t.reruns[""][s] for g, s in groups.items()}
    for row in view["progress"]:
        label = row["label"]
        assert {g: row[g] for g in groups} == {g: t.search[label][s] for g, s in groups.items()}
        assert row["reruns"]["total"] == sum(t.reruns[label].values())
        assert row["best"] == {"trial_id": best_id[label], "objective": pytest.approx(
            best_value[label])}
    assert any(infeasible in f["message"] for f in view["findings"])

    # playbook export: the table it writes, its seed reruns named by `repeats`
    out = os.path.join(os.path.dirname(root), "trials.csv")
    run(capsys, "export", root, "--format", "csv", "--out", out)
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert full(Counter(r["status"] for r in rows if not r["repeats"])) == whole[0]
    assert full(Counter(r["status"] for r in rows if r["repeats"])) == whole[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The study, trained (one real study for the module)."""
    folder = tmp_path_factory.mktemp("views")
    # Nesterov's learning rate reaches far past stability: some of its trials diverge.
    config = two_optimizer_study(folder / "study.py", budget=4, steps=80, every=20,
                                 log_every=20, save_latest_every_seconds=0, keep_best=2,
                                 nesterov_high=1e3)
    workdir = str(folder / "study")
    base = tmp_path_factory.getbasetemp()
    with pytest.MonkeyPatch.context() as patch:  # as conftest's _data_dir, for the module
        patch.setenv("PLAYBOOK_DATA_DIR", os.environ.get("PLAYBOOK_DATA_DIR", str(base / "data")))
        patch.setenv("PLAYBOOK_COMPILATION_CACHE", os.environ.get(
            "PLAYBOOK_COMPILATION_CACHE", str(base / "jax_cache")))
        assert cli.main(["study", "--config", str(config), "--workdir", workdir,
                         "--no_progress", "--no_report"]) == 0
    return workdir


@pytest.mark.slow
def test_every_view_counts_the_trials_and_names_the_best_as_the_trial_files_do(
        trained, capsys):
    workdir = trained
    rerun = run(capsys, "rerun", workdir, "--top", "2", "--seeds", "2", "--no_progress")
    t = truth(workdir)
    assert t.search[""]["diverged"] and t.search[""]["done"] and t.reruns[""]["done"]
    # A rerun scored better than its value's best trial of the search: a view that ranked
    # the reruns would name it.
    assert any(min(t.rerun_values[t.best[label][0]]) < t.best[label][1] for label in LABELS)

    # rerun's summary: the reruns' mean without the selecting trial, as compare has it
    assert counted(rerun.split("trial variance")[1]) == (full(t.search[""]), full(t.reruns[""]))
    for trial_id, values in t.rerun_values.items():
        line = next(x for x in rerun.splitlines() if f" trial {trial_id} (" in x)
        assert (f"mean {statistics.mean(values):.4g} ± {statistics.stdev(values):.2g} (std over "
                f"{len(values)} seed reruns;") in line
        assert ("its value's best trial, as in compare" in line) == (
            trial_id in {t.best[label][0] for label in LABELS})
    assert "report: " in rerun  # rerun wrote the report again, counting its reruns
    check_views(workdir, t, capsys, report_command=False)

    # The study still running: a larger budget (pending trials of the search, one claimed
    # by a runner) and a third seed of each best trial (pending seed reruns).
    store = StudyStore(workdir)
    spec = runner.load_spec(store)
    runner.prepare(store, dataclasses.replace(spec, budget=5))
    assert runner.rerun(store, spec, top=1, seeds=3)
    pending = [r.trial_id for r in store.trials(spec.metric) if r.status == "pending"]
    claimed = next(p for p in pending if "-seed" not in p)
    with open(os.path.join(store.trial_dir(claimed), "lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)      # as a runner's claim
        try:
            t = truth(workdir, claimed=(claimed,))
            assert t.search[""]["running"] == 1 and t.search[""]["pending"]
            assert t.reruns[""]["pending"]
            check_views(workdir, t, capsys)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def test_the_trial_page_lists_the_kept_checkpoints_with_the_best_and_the_latest(trained):
    from playbook.train.checkpoints import Checkpoints

    workdir = trained
    seen_apart = False
    for trial_id in StudyStore(workdir).trial_ids():
        folder = os.path.join(workdir, "trials", trial_id)
        if not os.path.exists(os.path.join(folder, "result.json")):
            continue  # a trial the test above added and never ran
        with open(os.path.join(folder, "result.json")) as f:
            result = json.load(f)
        # orbax's own reading of the directory the trial wrote (keep_best=2, latest kept)
        with Checkpoints(folder, METRIC, "minimize", keep_best=2) as kept:
            steps, best, latest = kept.all_steps(), kept.best_step(), kept.latest_step()
        page = state.trial_view(workdir, trial_id)["checkpoints"]
        assert [c["step"] for c in page["saved"]] == steps
        assert (page["best_step"], page["latest_step"]) == (best, latest)
        if result["status"] != "done":
            assert steps == [] and page["best"] is None
            continue
        assert steps and best == result["best_step"] and latest == result["steps"]
        assert page["best"] == os.path.join(folder, "checkpoints", str(best))
        assert os.path.isdir(page["best"]) and os.path.isdir(page["latest"])
        kinds = {c["step"]: c["kept_as"] for c in page["saved"]}
        assert "best" in kinds[best] and "latest" in kinds[latest]
        seen_apart |= best != latest
        # While the trial runs (no result.json yet), the best comes from the metrics
        # saved with each step.
        os.rename(os.path.join(folder, "result.json"), os.path.join(folder, "result.hidden"))
        try:
            assert state.trial_view(workdir, trial_id)["checkpoints"]["best_step"] == best
        finally:
            os.rename(os.path.join(folder, "result.hidden"), os.path.join(folder, "result.json"))
    assert seen_apart  # a trial whose best checkpoint is not its latest
