"""Analysis of a study directory: tables, the playbook's figures, findings, decisions.

    from playbook import analysis
    study = analysis.Study.load("runs/synthetic_study")  # trials, curves, spec
    analysis.axis_plot(study, "learning_rate")      # a matplotlib Figure
    for finding in analysis.diagnose(study):
        print(finding)
    print(analysis.comparison_text(study))
    analysis.write_report(study)                    # STUDY_DIR/report/index.html

    analysis.steps_to_result(study, 0.45)           # per batch size (scaling.py)

The `playbook report | compare | adopt` commands are in `commands.py`; the
batch-size and training-duration ones in `scaling_commands.py`.
"""

from playbook.analysis.decisions import (
    Comparison,
    Estimate,
    adopt,
    best_value,
    compare_values,
    comparison_text,
)
from playbook.analysis.diagnostics import Finding, diagnose
from playbook.analysis.load import Study, load_curves, load_study
from playbook.analysis.plots import (
    all_curves,
    axis_plot,
    axis_plots,
    best_step_plot,
    figures,
    isolation_plot,
    training_curves,
)
from playbook.analysis.report import write_report
from playbook.analysis.scaling import (
    budget_comparison,
    classify_regimes,
    max_train_steps_from_sweep,
    steps_to_result,
)

__all__ = [
    "Comparison", "Estimate", "Finding", "Study", "adopt", "all_curves", "axis_plot",
    "axis_plots", "best_step_plot", "best_value", "budget_comparison", "classify_regimes",
    "compare_values", "comparison_text", "diagnose", "figures", "isolation_plot",
    "load_curves", "load_study", "max_train_steps_from_sweep", "steps_to_result",
    "training_curves", "write_report",
]
