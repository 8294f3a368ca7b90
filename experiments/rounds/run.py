"""Rounds of tuning on MNIST-1D, each after the first drafted by `playbook next`, then one
wide single study of the same problem for comparison.

    python experiments/rounds/run.py [--max_rounds 6] [--skip_wide]

Round 1 is experiments/rounds/round1.py (a poor start). After each round the
script runs `playbook next` on it (adopting the best value, so the baseline
carries its nuisance values) and runs the drafted config as written, until a
round's findings hold no boundary or instability finding; that round's draft
(the exploitation round) is written but not run. Running the script again
resumes: finished studies are kept and drafted configs are not drafted again. Study directories go
to experiments/rounds/studies/ with their checkpoints removed (the curves,
results and study.json stay, which is all `playbook history` and the reports
read). The figures in docs/ROUNDS.md come from `summary.json`, written last.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STUDIES = os.path.join(HERE, "studies")
OPEN = ("boundary", "instability", "divergence_threshold")


def playbook(*args: str) -> str:
    """Runs `playbook ARGS` (this checkout's code) and returns its output."""
    cmd = [sys.executable, "-m", "playbook", *args]
    print("$ playbook", " ".join(args), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    print(done.stdout[-4000:], flush=True)
    if done.returncode:
        sys.exit(f"playbook {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def run_study(config: str, workdir: str, *overrides: str) -> dict:
    """Runs (or resumes: finished trials are kept) a study and summarises it."""
    playbook("study", "--config", config, "--workdir", workdir, "--no_progress", *overrides)
    for root, dirs, _ in os.walk(workdir):  # checkpoints: megabytes nobody reads later
        for d in [d for d in dirs if d == "checkpoints"]:
            shutil.rmtree(os.path.join(root, d))
    return summarise(workdir)


def summarise(workdir: str) -> dict:
    from playbook.analysis import diagnostics
    from playbook.analysis import load as load_lib

    study = load_lib.Study.load(workdir)
    findings = diagnostics.diagnose(study)
    best = load_lib.ranked(study.trials, study.goal).iloc[0]
    ranges = {k: s.describe() for k, s in study.spec.nuisance.items()}
    return {"study": os.path.relpath(workdir, HERE), "ranges": ranges,
            "fixed": study.spec.fixed, "budget": study.spec.budget,
            "designer": study.spec.designer, "best": float(best["objective"]),
            "best_trial": best["trial_id"], "best_step": int(best["best_step"]),
            "best_values": {k: best[k] for k in ranges},
            "steps": int(study.trials["steps"].fillna(0).sum()),
            # training time from the trials' own step rates (no start-up or evaluation)
            "train_seconds": round(float((study.trials["steps"]
                                          / study.trials["steps_per_second"]).sum()), 1),
            "trials": len(study.trials),
            "statuses": study.trials["status"].value_counts().to_dict(),
            "findings": [f"{f.severity} {f.code}" for f in findings],
            "open": [f.code for f in findings if f.code in OPEN
                     and not (f.code == "boundary" and f.numbers.get("at_limit"))]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_rounds", type=int, default=6)
    parser.add_argument("--skip_wide", action="store_true")
    args = parser.parse_args()
    os.makedirs(STUDIES, exist_ok=True)
    config, rounds = os.path.join(HERE, "round1.py"), []
    for number in range(1, args.max_rounds + 1):
        workdir = os.path.join(STUDIES, f"round{number}")
        rounds.append(run_study(config, workdir))
        print(json.dumps(rounds[-1], default=str), flush=True)
        config = os.path.join(HERE, f"round{number + 1}.py")
        if not os.path.exists(config):  # drafted once; a second run resumes the same rounds
            playbook("next", workdir, "--out", config, "--adopt", "optimizer=adamw")
        if not rounds[-1]["open"]:
            break  # the search space is good: the last draft is the exploitation round
    from playbook.study.spec import StudySpec

    summary = {"rounds": rounds, "final_draft": StudySpec.load(config).previous["changes"]}
    if not args.skip_wide:
        wide = os.path.join(STUDIES, "wide")
        trials = sum(r["trials"] for r in rounds)  # at least as many trials as the rounds
        if os.path.exists(os.path.join(wide, "study.json")):  # a budget only grows
            with open(os.path.join(wide, "study.json")) as f:
                trials = max(trials, json.load(f)["spec"]["budget"])
        summary["wide"] = run_study(os.path.join(HERE, "wide.py"), wide,
                                    f"--config.budget={trials}")
    with open(os.path.join(HERE, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    print(playbook("history", os.path.join(STUDIES, f"round{len(rounds)}")))
    print(table(summary))


def table(summary: dict) -> str:
    """The figures of docs/ROUNDS.md as a markdown table."""
    lines = ["| study | ranges | max_train_steps | designer | trials | best valid error "
             "(trial, step) | best values | steps trained | training s | open findings |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    rows = [(f"round {i}", r) for i, r in enumerate(summary["rounds"], start=1)]
    if "wide" in summary:
        rows.append(("wide", summary["wide"]))
    for name, r in rows:
        values = ", ".join(f"{k}={v:.3g}" for k, v in r["best_values"].items())
        lines.append(
            f"| {name} | {'; '.join(f'{k} {v}' for k, v in r['ranges'].items())} | "
            f"{r['fixed'].get('max_train_steps')} | {r['designer']} | {r['trials']} | "
            f"{r['best']:.3f} ({r['best_trial']}, {r['best_step']}) | {values} | {r['steps']} | "
            f"{r['train_seconds']:.0f} | {', '.join(r['open']) or 'none'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
