"""Analysis of a batch-size scaling study (configs/studies/mnist1d_batch_size.py).

    python experiments/scaling/analyze_batch_size.py runs/mnist1d_batch_size --figures docs

Prints, for each goal, steps to result per batch size and the regimes; the
learning rate of the fastest trial per batch size against linear and
square-root scaling; and the best validation error under the study's step
budget and under an epoch budget. Writes the figures for the primary goal as
PNG under --figures (scaling_*.png). With --also DIR (a denser re-search of
some batch sizes, e.g. `--config configs/studies/mnist1d_batch_size.py:32,64,128
--config.seed=1 --config.budget=24`), steps to result is also computed over the
trials of both studies together (the minimum over every trial of a batch size).
"""

import argparse
import os

import pandas as pd

from playbook import config as config_lib
from playbook import workloads
from playbook.analysis import load as load_lib
from playbook.analysis import scaling, scaling_plots

pd.set_option("display.width", 160)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir")
    parser.add_argument("--goals", type=float, nargs="+", default=[0.5, 0.45, 0.4])
    parser.add_argument("--goal", type=float, default=0.45, help="goal of the figures")
    parser.add_argument("--epochs", type=float, default=4.0, help="the epoch budget")
    parser.add_argument("--figures", default=None, help="folder for the PNG figures")
    parser.add_argument("--also", default=None, help="a second study of the same batch sizes")
    args = parser.parse_args()

    study = load_lib.Study.load(args.study_dir)
    counts = study.trials["status"].value_counts().to_dict()
    print(f"study {study.spec.name}: {len(study.trials)} trials {counts}")
    best = load_lib.ranked(study.trials, study.goal).groupby("batch_size")["objective"].min()
    print("best valid/error_rate per batch size (any step of the 1000):")
    print(best.to_string())
    for goal in sorted({*args.goals, args.goal}, reverse=True):
        table = scaling.steps_to_result(study, goal)
        print(f"\n== goal valid/error_rate <= {goal}")
        print(table[["batch_size", "steps", "reaching", "trials", "infeasible", "trial_id",
                     "learning_rate", "momentum"]].to_string(index=False, na_rep="-"))
        if table["reached"].sum() >= 2:
            regimes = scaling.classify_regimes(table["batch_size"], table["steps"])
            print(regimes.summary())
            reached = table[table["reached"]]
            lr = scaling.effective_learning_rate(reached)
            print(f"fitted slopes: best effective lr ~ batch^"
                  f"{scaling.log_log_slope(reached['batch_size'], lr):.2f}, best lr ~ batch^"
                  f"{scaling.log_log_slope(reached['batch_size'], reached['learning_rate']):.2f}")
        if goal == args.goal and args.figures:
            write_figures(study, table, args.figures, goal)

    if args.also:
        combined(study, load_lib.Study.load(args.also), args.goal, args.figures)

    train_size = len(workloads.get(config_lib.get(study.spec.baseline, "workload"))
                     .load(study.spec.baseline).train)
    budgets = scaling.budget_comparison(study, train_size, args.epochs)
    print(f"\n== step budget ({int(budgets['step_budget'].max())} steps) vs epoch budget "
          f"({args.epochs:g} epochs of {train_size} examples)")
    print(budgets.drop(columns=["label"]).to_string(index=False, na_rep="-"))
    if args.figures:
        path = os.path.join(args.figures, "scaling_budgets.png")
        scaling_plots.budget_plot(budgets).savefig(path, dpi=100)
        print(f"figure: {path}")


def combined(study, other, goal, folder) -> None:
    """Steps to result over the trials of both studies (ids of the second prefixed)."""
    trials = pd.concat([study.trials, other.trials.assign(
        trial_id="also-" + other.trials["trial_id"],
        repeats=other.trials["repeats"].map(lambda r: r if pd.isna(r) else f"also-{r}"))],
        ignore_index=True)
    curves = pd.concat([study.curves, other.curves.assign(
        trial_id="also-" + other.curves["trial_id"])], ignore_index=True)
    table = scaling.steps_to_result_table(trials, curves, study.metric, goal, study.goal,
                                          study.spec.scientific_values(), study.nuisance_keys)
    print(f"\n== goal valid/error_rate <= {goal}, trials of both studies")
    print(table[["batch_size", "steps", "reaching", "trials", "trial_id", "learning_rate",
                 "momentum"]].to_string(index=False, na_rep="-"))
    regimes = scaling.classify_regimes(table["batch_size"], table["steps"])
    print(regimes.summary())
    if folder:
        for name, fig in (("steps_to_result", scaling_plots.steps_to_result_plot(
                table, regimes=regimes)), ("learning_rate", scaling_plots.learning_rate_plot(table))):
            path = os.path.join(folder, f"scaling_{name}_combined.png")
            fig.savefig(path, dpi=100)
            print(f"figure: {path}")


def write_figures(study, table, folder, goal) -> None:
    os.makedirs(folder, exist_ok=True)
    done = load_lib.originals(study.trials)
    done = done[done["status"] == "done"]
    first = scaling.trial_steps_to_result(done, study.curves, study.metric, goal, study.goal)
    per_trial = pd.DataFrame({"batch_size": done.set_index("trial_id").loc[first.index,
                                                                            "batch_size"],
                              "steps": first}).dropna()
    figures = {
        "scaling_steps_to_result": scaling_plots.steps_to_result_plot(table,
                                                                      trial_steps=per_trial),
        "scaling_learning_rate": scaling_plots.learning_rate_plot(table),
    }
    for name, fig in figures.items():
        path = os.path.join(folder, f"{name}.png")
        fig.savefig(path, dpi=100)
        print(f"figure: {path}")


if __name__ == "__main__":
    main()
