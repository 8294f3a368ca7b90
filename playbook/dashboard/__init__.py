"""`playbook serve`: a live, read-only web view of a study directory, and the Plotly figures
it shares with the static report.

    figures.py     the interactive figures (axis, isolation, curves, parallel
                   coordinates, importance), Study -> plotly Figure
    importance.py  hyperparameter importance (random forest over the done trials)
    state.py       the pages' data, read from the study directory
    server.py      the HTTP server (standard library) and its routes
    static/        dashboard.js and dashboard.css (plotly.min.js comes from the plotly package)

The runner knows nothing of this package: the study directory is the only interface.
"""
