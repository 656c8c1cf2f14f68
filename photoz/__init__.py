"""photoz: CSST photometric redshifts from simulated galaxy images (Zhou et al. 2022, MNRAS 512, 4593).

GalSim simulates CSST seven-band (NUV u g r i z y) stamps of real galaxies, aperture photometry
measures their fluxes, and an MLP, an inception CNN and two hybrid networks predict redshifts and
p(z), scored beside the paper's Table 2. The package in data order, one subpackage per pipeline
stage, each named after its rule file (``workflow/rules/<stage>.smk``):

==========  =========================  ==============================  ===============================
stage       subpackage                 rules                           products (:mod:`photoz.products`)
==========  =========================  ==============================  ===============================
catalog     :mod:`photoz.catalog`      prepare_catalog, train_flow,    ``results/catalog/truth.parquet``,
                                       download_*                      ``fit_quality.json``
simulate    :mod:`photoz.simulate`     simulate_images                 ``results/images/shard_{i}.h5``
photometry  :mod:`photoz.photometry`   measure_shard,                  ``results/photometry/
                                       measure_photometry              photometry.parquet``,
                                                                       ``selection.json``
train       :mod:`photoz.train`        train_network, split_ratio,     ``results/models/``,
            (networks:                 train_member, combine_ensemble  ``results/predictions/``,
            :mod:`photoz.models`)                                      ``results/pdfs/``
peers       :mod:`photoz.peers`        fit_peer, fit_rail_peer         ``results/predictions/<peer>``
evaluate    :mod:`photoz.evaluate`     compute_metrics                 ``results/metrics/``
plots       :mod:`photoz.plots`        plot_figure                     ``results/figures/``
==========  =========================  ==============================  ===============================

Shared by several stages, one concept per module (as GalSim does): :mod:`photoz.instrument` (CSST
bands, throughputs, noise), :mod:`photoz.sed` (templates, dust, IGM, synthetic photometry),
:mod:`photoz.emission_lines`, :mod:`photoz.mixture` (Gaussian-mixture p(z) maths),
:mod:`photoz.names` (the methods' names and labels), :mod:`photoz.paper` (the paper's numbers),
:mod:`photoz.config` (the schema-validated config), :mod:`photoz.errors`, :mod:`photoz.io`
(atomic writes), :mod:`photoz.logs`, :mod:`photoz.cli` (``python -m photoz``) and
:mod:`photoz.benchmarks` (``python -m photoz benchmark``, and the toy products tests use).
"""

BANDS: tuple[str, ...] = ("NUV", "u", "g", "r", "i", "z", "y")
"""The seven CSST survey-camera bands, blue to red (Zhou et al. 2022, Sect. 2)."""

__version__ = "0.1.0"
