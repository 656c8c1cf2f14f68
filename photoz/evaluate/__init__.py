"""Stage 5, evaluation: predictions and p(z) -> metrics and tables (``workflow/rules/evaluate.smk``).

Inputs: every method's ``results/predictions/<name>.parquet`` and p(z) file, ``selection.json``.
Products (:mod:`photoz.products.evaluate`): ``results/metrics/summary.json``, ``summary.md``,
``summary.html`` and ``binned.csv``.

Modules: :mod:`~photoz.evaluate.metrics` (sigma_NMAD, outlier fraction, MAE, bias, bootstrap,
per-bin), :mod:`~photoz.evaluate.pdfscores` (PIT, coverage, CRPS of a p(z) file),
:mod:`~photoz.evaluate.summary` (the stage itself, rule ``compute_metrics``).
"""
