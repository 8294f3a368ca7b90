"""Study directories for the dashboard tests, written as the runner writes them: one whose
strings are hostile HTML, with done, infeasible and unfinished trials."""

import json
import os

from test_analysis_load import write_study, write_trial

# Shown as text by a safe page; run, it sets window.__pwned.
XSS = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"
NUISANCE = {
    "learning_rate": {"kind": "branches", "key": "optimizer", "branches": [
        ["nesterov", {"kind": "float", "low": 1e-3, "high": 1.0, "scale": "log"}],
        ["adamw", {"kind": "float", "low": 1e-4, "high": 1e-1, "scale": "log"}]]},
    "model.activation": {"kind": "choice", "values": ["relu", XSS]},
}


def hostile_study(root) -> str:
    """Five points x two optimizers: eight done, one diverged with reason 'collapsed',
    one pending (0009, no result yet); half the trials have the XSS activation."""
    root = write_study(root, nuisance=NUISANCE, budget=5, name=f"study {XSS}")
    for p in range(5):
        for s, (opt, low, high) in enumerate((("nesterov", 1e-3, 1.0), ("adamw", 1e-4, 1e-1))):
            trial_id = f"{2 * p + s:04d}"
            u = (p + 0.5) / 5
            nuisance = {"learning_rate": float(low * (high / low) ** u),
                        "model.activation": ["relu", XSS][p % 2]}
            status = "diverged" if trial_id == "0008" else "done"
            write_trial(root, trial_id, {"optimizer": opt}, nuisance, status=status,
                        objective=0.4 - 0.03 * p + 0.01 * s, result=trial_id != "0009")
    with open(os.path.join(root, "trials", "0008", "result.json")) as f:
        result = json.load(f)
    result["reason"] = "collapsed"
    write_json(os.path.join(root, "trials", "0008", "result.json"), result)
    os.unlink(os.path.join(root, "trials", "0009", "metrics.jsonl"))  # not started yet
    return root


def finish(root, trial_id: str, objective: float = 0.11) -> None:
    """Writes a done result.json for the trial, atomically (as the trial does)."""
    write_json(os.path.join(root, "trials", trial_id, "result.json"),
               {"status": "done", "best_step": 200, "best": {"valid/error_rate": objective},
                "final": {}, "steps": 200, "max_train_steps": 200})


def write_json(path: str, obj) -> None:
    tmp = f"{path}.tmp-test"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)
