"""Stage 2, the simulation: the truth table -> seven-band CSST stamps (``workflow/rules/simulate.smk``).

Inputs: ``results/catalog/truth.parquet``, the PSF (``simulate.psf``). Products
(:mod:`photoz.products.simulate`): ``results/images/shard_{i}.h5``, one stack of seven
background-subtracted stamps in electrons per galaxy, with the paper's noise (eq. 4).

Modules, in data order:

- :mod:`~photoz.simulate.psf`: the CSST PSF per band (Gaussian of R80, PSF images, or none);
- :mod:`~photoz.simulate.stamps`: GalSim drawing of one galaxy's stamps and its noise;
- :mod:`~photoz.simulate.stage`: the stage itself (rule ``simulate_images``),
  :func:`~photoz.simulate.stage.simulate_shard`.
"""
