"""The data products of docs/outputs.md, grouped by the stage that writes them.

Every stage, figure, benchmark and test reads and writes the files that pass between stages
through this package, so that a product's layout is written down once: one column list, one
reader, one writer each.

- :mod:`~photoz.products.catalog` (§1, rule ``prepare_catalog``): ``truth.parquet``
  (:data:`~photoz.products.catalog.TRUTH_COLUMNS`), ``fit_quality.json``;
- :mod:`~photoz.products.simulate` (§2, rule ``simulate_images``): the stamp shards
  ``shard_{i}.h5``;
- :mod:`~photoz.products.photometry` (§3, rules ``measure_shard``, ``measure_photometry``,
  ``split_ratio``): ``photometry.parquet``, ``selection.json``, per-shard measurements;
- :mod:`~photoz.products.train` (§4, rules ``train_network``, ``combine_ensemble``, ``fit_peer``):
  checkpoints, training histories, predictions tables, p(z) files;
- :mod:`~photoz.products.evaluate` (§5, rule ``compute_metrics``): ``summary.json``,
  ``binned.csv``;
- :mod:`~photoz.products.common`: the split names and the checks the readers share;
- :mod:`~photoz.products.verify`: ``python -m photoz verify``, every product of a run against
  its checksum.

Each reader checks the file once (readable, every required column / dataset / key present, the
values the consumers rely on finite and in range) and raises :class:`photoz.errors.PhotozDataError`
naming the file, the column and the first bad row; each product carries a checksum its reader
verifies (docs/outputs.md, "Checksums"), and a mismatch names the file and how to remake it. Each writer writes atomically through the one
atomic writer, :func:`photoz.io.atomic_path`. Small contract-conforming fakes of these products,
for tests and benchmarks, come from :mod:`photoz.benchmarks.toydata`.
"""
