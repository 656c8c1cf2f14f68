"""Stage 4, training: photometry and stamps -> networks, predictions and p(z) (``workflow/rules/train.smk``).

Inputs: ``results/photometry/photometry.parquet`` (the selected galaxies, their fluxes and split)
and the stamp shards. Products (:mod:`photoz.products.train`): ``results/models/<net>.pt`` and
``<net>_history.csv``, ``results/predictions/<net>.parquet``, ``results/pdfs/<net>.hdf5``.
Deep ensembles (``workflow/rules/ensemble.smk``) train each network several times and combine them.

Modules, in data order:

- :mod:`~photoz.train.settings`: one network's settings, the device, the precision, the seeds;
- :mod:`~photoz.train.features`: the MLP's 20 input features (paper eq. 7);
- :mod:`~photoz.train.inputs`: photometry and stamps -> the tensors every network reads;
- :mod:`~photoz.train.augment`: flux realisations and the D4 stamp transforms (paper Sect. 3);
- :mod:`~photoz.train.batches`: one batch provider per input kind, owning its forward pass and
  validation;
- :mod:`~photoz.train.heads`: the point and p(z) output heads, their loss and calibration;
- :mod:`~photoz.train.loop`: the training loop and its learning-rate schedules (no I/O);
- :mod:`~photoz.train.inference`: the no-gradient passes (photo-z, pooled CNN features);
- :mod:`~photoz.train.network`: the stage itself (rule ``train_network``),
  :func:`~photoz.train.network.train_network`;
- :mod:`~photoz.train.predict`: a trained network or ensemble applied to a photometry table, the one
  assembler of the predictions table (``python -m photoz predict``);
- :mod:`~photoz.train.ensemble`: deep ensembles (rules ``train_member``, ``combine_ensemble``).

The networks themselves are pure ``nn.Module`` s in :mod:`photoz.models`.
"""
