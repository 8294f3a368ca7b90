"""The numbers behind the collapse rule (docs/VALIDITY.md): for each trial of a study run
with `stop_collapsed=False`, its effective learning rate, status and reason, the
training loss over its last WINDOW relative to chance, its final validation error,
and the rank its retrospective best checkpoint would have had among all trials.

    python experiments/validity/collapse_table.py runs/mnist1d_nesterov_stability_full
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

from playbook.train import collapse


def main(study_dir: str) -> None:
    rows = []
    for trial_id in sorted(os.listdir(os.path.join(study_dir, "trials"))):
        path = os.path.join(study_dir, "trials", trial_id)
        meta = json.load(open(os.path.join(path, "trial.json")))
        result = json.load(open(os.path.join(path, "result.json")))
        records = [json.loads(line) for line in open(os.path.join(path, "metrics.jsonl"))]
        loss = np.array([(r["step"], r["train/loss"] if r["train/loss"] is not None else np.nan)
                         for r in records if "train/loss" in r])
        window = loss[loss[:, 0] > result["steps"] - collapse.WINDOW * result["max_train_steps"]]
        n = meta["nuisance"]
        rows.append(dict(
            trial=trial_id, lr=n["learning_rate"], momentum=n["momentum"],
            effective=n["learning_rate"] / (1 - n["momentum"]), status=result["status"],
            reason=result.get("reason") or "", steps=result["steps"],
            window=np.nanmin(window[:, 1]) / math.log(10) if len(window) else np.nan,
            error=(result["final"] or {}).get("valid/error_rate", np.nan),
            best=(result["best"] or {}).get("valid/error_rate", np.nan)))
    order = sorted(rows, key=lambda r: r["best"])
    for rank, row in enumerate(order, start=1):
        row["rank"] = rank
    print("trial  lr      momentum  lr/(1-m)  status    reason          steps  "
          "min loss/ln10 (last 10%)  final error  best error (rank if counted)")
    for r in sorted(rows, key=lambda r: r["effective"]):
        print(f"{r['trial']}  {r['lr']:.4f}  {r['momentum']:.4f}    {r['effective']:7.3g}  "
              f"{r['status']:8s}  {r['reason']:14s}  {r['steps']:5d}  {r['window']:24.3f}  "
              f"{r['error']:11.3f}  {r['best']:.3f} ({r['rank']})")


if __name__ == "__main__":
    main(sys.argv[1])
