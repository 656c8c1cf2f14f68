"""The data products of docs/data_products.md: one column list, one reader, one writer each.

Every stage, figure, benchmark and test reads and writes the files that pass between stages
through this package, so that a product's layout is written down once:

- §1 truth table ``truth.parquet``: :data:`TRUTH_COLUMNS` (+ :data:`TRUTH_MIXING_COLUMNS`), :func:`read_truth`, :func:`write_truth`
- §1 SED-fit report ``fit_quality.json``: :data:`FIT_QUALITY_KEYS`, :func:`read_fit_quality`,
  :func:`write_fit_quality`
- §2 stamp shards ``shard_{i}.h5``: :data:`SHARD_DATASETS`, :func:`open_shard` (with
  :func:`shard_chunks`, :func:`read_shard_rows`, :func:`read_shard_ids`), :func:`write_shard`
- §3 photometry ``photometry.parquet``: :data:`PHOTOMETRY_COLUMNS`, :func:`read_photometry`,
  :func:`write_photometry`; ``selection.json``: :data:`SELECTION_KEYS`, :func:`read_selection`,
  :func:`write_selection`
- §4 ``<net>_history.csv``: :data:`HISTORY_COLUMNS`, :func:`read_history`, :func:`write_history`;
  ``predictions/<name>.parquet``: :data:`PREDICTION_COLUMNS`, :func:`read_predictions`,
  :func:`write_predictions`
- §5 ``summary.json`` and ``binned.csv``: :data:`SUMMARY_KEYS`, :data:`BINNED_COLUMNS`,
  :func:`read_summary`, :func:`write_summary_json`, :func:`read_binned`, :func:`write_binned`

Each reader checks the file once (readable, every required column / dataset / key present, the
values the consumers rely on finite and in range) and raises :class:`photoz.errors.PhotozDataError`
naming the file, the column and the first bad row. Each writer writes atomically through the one
atomic writer, :func:`photoz.io.atomic_path`. Small contract-conforming fakes of these products,
for tests and benchmarks, come from :mod:`photoz.toydata`.
"""

from photoz.products.shards import (
    SHARD_ATTRS,
    SHARD_DATASETS,
    open_shard,
    read_shard_ids,
    read_shard_rows,
    shard_chunks,
    write_shard,
)
from photoz.products.tables import (
    BINNED_COLUMNS,
    BINNED_METRICS,
    FIT_QUALITY_KEYS,
    HISTORY_COLUMNS,
    MATCHED_SHAPE_COLUMNS,
    MATCHED_TEMPLATES,
    MEASUREMENT_COLUMNS,
    MORPH_COLUMNS,
    NETWORK_PREDICTION_COLUMNS,
    PDF_COLUMNS,
    PHOTOMETRY_COLUMNS,
    PREDICTION_COLUMNS,
    SELECTION_KEYS,
    SUMMARY_KEYS,
    TRUTH_COLUMNS,
    TRUTH_METADATA,
    TRUTH_MIXING_COLUMNS,
    read_binned,
    read_fit_quality,
    read_history,
    read_photometry,
    read_predictions,
    read_selection,
    read_shard_measurements,
    read_summary,
    read_truth,
    write_binned,
    write_fit_quality,
    write_history,
    write_photometry,
    write_predictions,
    write_selection,
    write_shard_measurements,
    write_summary_json,
    write_truth,
)

__all__ = [
    "BINNED_COLUMNS", "BINNED_METRICS", "FIT_QUALITY_KEYS", "HISTORY_COLUMNS",
    "MATCHED_SHAPE_COLUMNS", "MATCHED_TEMPLATES", "MORPH_COLUMNS", "NETWORK_PREDICTION_COLUMNS",
    "MEASUREMENT_COLUMNS", "PDF_COLUMNS", "PHOTOMETRY_COLUMNS", "PREDICTION_COLUMNS", "SELECTION_KEYS",
    "SHARD_ATTRS", "SHARD_DATASETS",
    "SUMMARY_KEYS", "TRUTH_COLUMNS", "TRUTH_MIXING_COLUMNS", "TRUTH_METADATA", "open_shard", "read_binned",
    "read_fit_quality", "read_history", "read_photometry", "read_predictions", "read_selection",
    "read_shard_ids", "read_shard_measurements", "read_shard_rows", "read_summary", "read_truth", "shard_chunks",
    "write_binned", "write_fit_quality", "write_history", "write_photometry",
    "write_predictions", "write_selection", "write_shard", "write_shard_measurements",
    "write_summary_json", "write_truth",
]
