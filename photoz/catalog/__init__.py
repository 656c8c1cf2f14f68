"""Stage 1, the catalogue: real galaxies -> the truth table (rules in ``workflow/rules/catalog.smk``).

Inputs: a source catalogue (``catalog.source``: the LSST DESC DC2 test catalogues shipped in
pz-rail-base, a normalizing flow resampling them, or GalSim's COSMOS real-galaxy catalogue), the
SED templates and the CSST throughputs. Products (:mod:`photoz.products.catalog`):
``results/catalog/truth.parquet`` (true redshift, split, SED, CSST fluxes, morphology per galaxy)
and ``results/catalog/fit_quality.json``.

Modules, in data order:

- :mod:`~photoz.catalog.sources`: reading DC2 (LSST ugrizy) and HSC photometry, mags -> maggies;
- :mod:`~photoz.catalog.cosmos`: GalSim's COSMOS catalogue (rule ``download_cosmos``);
- :mod:`~photoz.catalog.flow`: the DC2 normalizing flow (rule ``train_flow``, pzflow);
- :mod:`~photoz.catalog.download`: the CSST throughputs and PSFs (rule ``download_csst_data``);
- :mod:`~photoz.catalog.sedfit`: the template fit at the true redshift (paper Sect. 2);
- :mod:`~photoz.catalog.morphology`: sizes, shapes and Sersic indices for catalogues without them;
- :mod:`~photoz.catalog.splits`: the seeded train / validation / test split of every ratio, and
  the catalogue's seed streams;
- :mod:`~photoz.catalog.truth`: the stage itself (rule ``prepare_catalog``),
  :func:`~photoz.catalog.truth.build_truth_table`.
"""
