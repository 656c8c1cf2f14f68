"""The classical peers: photometry -> peer predictions and p(z) (``workflow/rules/peers.smk``).

Inputs: ``results/photometry/photometry.parquet`` (the networks' galaxies and split). Products
(:mod:`photoz.products.train`): ``results/predictions/<peer>.parquet`` and, for the RAIL peers,
their p(z).

Modules: :mod:`~photoz.peers.stage` (the inputs and the stage, rules ``fit_peer`` and
``fit_rail_peer``), :mod:`~photoz.peers.trees` (random forest, XGBoost), :mod:`~photoz.peers.rail`
(FlexZBoost, KNearNeigh, BPZ through RAIL's stages).
"""
