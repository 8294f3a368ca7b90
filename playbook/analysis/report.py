"""A study's report: STUDY_DIR/report/index.html with every figure beside it as PNG.

The page holds the findings, the comparison with the baseline, a table of the
best trials, the interactive figures (the dashboard's Plotly figures, with
plotly.min.js beside the page: it opens offline), the figures as PNG
(referenced by relative path, so the folder can be copied or served as is)
and the commands that reproduce or continue the work;
report/configs/ holds a config file per best trial for `playbook train`.
Everything is written under STUDY_DIR/report, each file atomically; nothing
else in the study is touched.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import shlex
from collections.abc import Sequence

import pandas as pd

from playbook import atomic, trial_files
from playbook.analysis import decisions, diagnostics, plots, rounds, tally
from playbook.analysis import load as load_lib
from playbook.analysis.diagnostics import Finding
from playbook.analysis.load import Study
from playbook.study.store import StudyStore, read_json

REPORT_DIR = "report"
BEST_TRIALS = 3  # rows per scientific value in the best-trials table

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
.error { border-left: 5px solid #c00; } .warning { border-left: 5px solid #e90; }
.info { border-left: 5px solid #48c; }
.finding { padding: 0.3em 0.8em; margin: 0.5em 0; background: #fafafa; }
.advice { color: #555; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f6f6f6; padding: 0.8em; white-space: pre-wrap; overflow-wrap: anywhere; }
.plotly-figure { display: inline-block; width: 580px; height: 400px; vertical-align: top; }
#plotly-parallel { width: 1160px; }  /* an axis per key: its labels need the page's width */
"""


def write_report(study: Study | str | os.PathLike, findings: Sequence[Finding] | None = None
                 ) -> str:
    """Writes STUDY_DIR/report/index.html, its figures and its configs; returns the page's path."""
    study = load_lib.as_study(study)
    findings = list(diagnostics.diagnose(study) if findings is None else findings)
    out = os.path.join(study.root, REPORT_DIR)
    os.makedirs(os.path.join(out, "configs"), exist_ok=True)
    figure_files = {}
    for name, fig in plots.figures(study).items():
        figure_files[name] = f"{name}.png"
        _save_figure(fig, os.path.join(out, figure_files[name]))
    for stale in os.listdir(out):  # Figures of an earlier report that this one no longer has.
        if (stale.endswith(".png") and not stale.startswith(".tmp-")
                and stale not in figure_files.values()):
            os.unlink(os.path.join(out, stale))
    configs = _write_trial_configs(study, out)
    from playbook.dashboard import static_report  # the dashboard's interactive figures

    page = render(study, findings, figure_files, configs,
                  interactive=static_report.write(study, out))
    path = os.path.join(out, "index.html")
    atomic.write_text(path, page)
    return path


def _save_figure(fig, path: str) -> None:
    # A temporary of its own: two runners finishing one study may write the report at once.
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _write_trial_configs(study: Study, out: str) -> dict[str, str]:
    """report/configs/trial_<id>.py for the best trial of each scientific value."""
    store = StudyStore(study.root)
    written = {}
    for best in load_lib.best_few(study.trials, study.goal, 1).values():
        trial_id = best.iloc[0]["trial_id"]
        config = trial_files.read_config(store.trial_dir(trial_id))
        if not config:
            continue
        path = os.path.join(out, "configs", f"trial_{trial_id}.py")
        doc = (f"The config of trial {trial_id} of study '{study.spec.name}' ({study.root}).\n\n"
               f"    playbook train --config {path} --workdir runs/trial_{trial_id}")
        atomic.write_text(path, decisions.config_source(config, doc))
        written[trial_id] = path
    return written


# -- the page --------------------------------------------------------------------------


def render(study: Study, findings: Sequence[Finding], figure_files: dict[str, str],
           configs: dict[str, str], interactive: str = "") -> str:
    """The report's HTML; `interactive` is the HTML of the interactive figures, if any."""
    e = html.escape
    spec = study.spec
    created = read_json(StudyStore(study.root).study_json) or {}
    when = (datetime.datetime.fromtimestamp(created["created"]).isoformat(timespec="seconds")
            if isinstance(created.get("created"), (int, float)) else "?")
    parts = [
        "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
        f"<title>{e(spec.name)}: study report</title><style>{_CSS}</style></head><body>",
        f"<h1>Study {e(spec.name)}</h1>",
        f"<p>{e(spec.description)}</p>" if spec.description else "",
        f"<p>Directory <code>{e(study.root)}</code>, created {e(when)}. Metric "
        f"<b>{e(study.metric)}</b> ({e(study.goal)}); designer {e(spec.designer)}, budget "
        f"{spec.budget} trials per scientific value; scientific: "
        f"{e(', '.join(study.scientific_keys))}; nuisance: "
        f"{e(', '.join(study.nuisance_keys) or 'none')}. Report written "
        f"{e(datetime.datetime.now().isoformat(timespec='seconds'))}.</p>",
        _rounds_html(study),
        "<h2>Trials</h2>", _status_table(study),
        "<h2>Findings</h2>", _findings_html(findings),
        "<h2>Comparison of the scientific values</h2>",
        f"<pre>{e(decisions.comparison_text(study))}</pre>",
        "<h2>Best trials</h2>", _best_table(study),
        "<h2>Interactive figures</h2>" if interactive else "", interactive,
        "<h2>Figures</h2>",
        *(f"<figure><img src='{e(file)}' alt='{e(caption(study, name))}'><figcaption>"
          f"{e(caption(study, name))}</figcaption></figure>"
          for name, file in figure_files.items()),
        "<h2>Commands</h2>", f"<pre>{e(commands(study, configs))}</pre>",
        "<h2>Every trial</h2>", "<details><summary>table</summary>",
        f"<p>{e(_TRIALS_NOTE)}</p>", _trials_table(study),
        "</details>", "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _rounds_html(study: Study) -> str:
    """Links to the round this study continues and the rounds that continue it."""
    e = html.escape
    here = os.path.join(study.root, REPORT_DIR)
    links = []
    previous = rounds.previous_dir(study.root)
    if previous:
        links.append(("previous round", previous))
    links += [("next round", d) for d in rounds.next_dirs(study.root)]
    parts = [f"{e(what)}: <a href='{e(os.path.relpath(os.path.join(d, REPORT_DIR, 'index.html'), here))}'>"
             f"{e(os.path.basename(d))}</a>" for what, d in links]
    drafted = os.path.join(study.root, rounds.NEXT_STUDY_FILE)
    if os.path.exists(drafted):
        parts.append(f"next round drafted: <a href='{e(os.path.relpath(drafted, here))}'>"
                     f"{e(rounds.NEXT_STUDY_FILE)}</a>")
    return f"<p>Rounds: {'; '.join(parts)}.</p>" if parts else ""


def caption(study: Study, name: str) -> str:
    """What a figure of `plots.figures` shows, in words."""
    metric = study.metric
    for key in study.nuisance_keys:
        if name == f"axis_{plots.slug(key)}":
            return (f"Axis plot of {key}: {metric} of every trial against {key} (a red title: "
                    f"best trials near an edge of the range)")
    fixed = {
        "isolation": f"Isolation plot: the best {metric} of each scientific value after its "
                     f"nuisance hyperparameters were tuned (error bars: seed reruns)",
        "training_curves": "Training loss and validation metric of the best trials of each "
                           "scientific value (circle: the step selected)",
        "all_curves": f"Validation {metric} of every trial (dotted: infeasible)",
        "best_steps": "Where retrospective checkpoint selection landed: best step as a "
                      "fraction of max_train_steps",
        "steps_to_result": "Steps to reach the goal per batch size, with the scaling regimes",
        "learning_rate_scaling": "Best learning rate per batch size",
    }
    return fixed.get(name, name.replace("_", " ").capitalize())


_TRIALS_NOTE = ("point: the quasi-random point of the nuisance search the trial was trained "
                "at (every scientific value is trained at the same points); seed rerun of: "
                "the trial a seed rerun repeats; objective: the best validation value of the "
                "study's metric.")
_TRIAL_TABLE_COLUMNS = {"index": "point", "repeats": "seed rerun of"}


def _trials_table(study: Study) -> str:
    """Every trial, numbers to 4 significant digits (1.465e-06 stays readable)."""
    table = study.trials.drop(columns=["error", "label"], errors="ignore")
    table = table.rename(columns=_TRIAL_TABLE_COLUMNS)
    table["point"] = table["point"].where(table["seed rerun of"].isna())  # reruns: -1
    return table.apply(lambda column: column.map(_cell)).to_html(index=False, border=0)


def _cell(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def _status_table(study: Study) -> str:
    """Per scientific value, as every view counts (analysis.tally): the trials of the search
    by status, the seed reruns apart, and the best trial of the search."""
    count = tally.of(study)
    rows = []
    for label in study.labels:
        c = count[label]
        bad = study.trials[(study.trials["label"] == label) & study.trials["repeats"].isna()
                           & study.trials["status"].isin(load_lib.INFEASIBLE)]
        rows.append({"scientific value": label, **dict(c.search),
                     "infeasible by reason": ", ".join(
                         f"{n} {r}" for r, n in load_lib.reasons(bad).items()),
                     "seed reruns (apart)": tally.statuses_text(c.reruns)
                     if c.rerun_trials else "",
                     "best trial of the search": c.best_text()})
    return (f"<p>Counted: {html.escape(count.study.text())}.</p>"
            + pd.DataFrame(rows).to_html(index=False, border=0))


def _findings_html(findings: Sequence[Finding]) -> str:
    if not findings:
        return "<p>No findings: nothing the playbook's checks flag.</p>"
    e = html.escape
    return "\n".join(
        f"<div class='finding {e(f.severity)}'><b>{e(f.severity)}</b> <code>{e(f.code)}</code>: "
        f"{e(f.message)}<br><span class='advice'>&rarr; {e(f.recommendation)}</span></div>"
        for f in findings)


def _best_table(study: Study) -> str:
    rows = []
    for label, best in load_lib.best_few(study.trials, study.goal, BEST_TRIALS).items():
        for rank, (_, row) in enumerate(best.iterrows(), start=1):
            reruns = pd.Series(tally.rerun_values(study.trials, row["trial_id"])[0], dtype=float)
            spread = (f"{reruns.mean():.4g} ± {reruns.std():.2g} (n={len(reruns)})"
                      if len(reruns) >= 2 else "")
            nuisance = {k: row[k] for k in study.nuisance_keys if not pd.isna(row[k])}
            rows.append({
                "scientific value": label, "rank": rank, "trial": row["trial_id"],
                study.metric: f"{row['objective']:.4g}",
                "best step": f"{row['best_step']} / {row['max_train_steps']}",
                "seed reruns (trial excluded)": spread,
                "nuisance": ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in nuisance.items()),
            })
    if not rows:
        return "<p>No trial has finished successfully yet.</p>"
    return pd.DataFrame(rows).to_html(index=False, border=0)


def commands(study: Study, configs: dict[str, str]) -> str:
    """The commands that continue the study, measure variance and decide; each runs as
    printed (the study command is the one it was last run with, from study.json)."""
    from playbook.study.runner import continue_command

    q = shlex.quote
    root = q(study.root)
    best = decisions.best_value(study)
    adopt = " ".join(q(f"{k}={v}") for k, v in best.items()) if best else None
    lines = [
        "# continue or resume the study (never reruns a finished trial):",
        continue_command(study.root),
        f"playbook status {root}",
        "# measure trial variance, then compare with the baseline:",
        decisions.rerun_command(study.root),
        f"playbook compare {root}",
    ]
    if adopt:
        lines += ["# adopt a scientific value as the next round's baseline:",
                  f"playbook adopt {root} --value {adopt}"]
    lines.append(f"playbook report {root}")
    if configs:
        lines.append("# retrain the best trial of each scientific value:")
        lines += [f"playbook train --config {q(path)} --workdir runs/trial_{trial_id}"
                  for trial_id, path in configs.items()]
    return "\n".join(lines)


def findings_text(findings: Sequence[Finding]) -> str:
    """The findings as the lines `playbook report` prints."""
    if not findings:
        return "no findings: nothing the playbook's checks flag"
    return "\n".join(str(f) for f in findings)


def findings_json(findings: Sequence[Finding]) -> str:
    return json.dumps([f.__dict__ for f in findings], default=str, indent=1)
