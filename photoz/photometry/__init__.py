"""Aperture photometry of the simulated stamps, the SNR selection and the photometry table.

The package: :mod:`~photoz.photometry.config` (the ``photometry`` config section),
:mod:`~photoz.photometry.kron` (detection, Kron radius, apertures of in-memory stamps),
:mod:`~photoz.photometry.matched` (the matched-filter flux, issue 17),
:mod:`~photoz.photometry.stage` (reading shards, errors, selection, writing the table).

What the MLP sees is what this stage measures (Zhou et al. 2022, Sect. 3; PAPER_SPEC §3):

1. Detection on the sum of the g, r, i and z stamps (``detection_bands``) with ``sep.extract``
   (Barbary 2016, the SExtractor algorithms of Bertin & Arnouts 1996), threshold
   ``detection_threshold`` times the detection image's background sigma. As SExtractor's
   DETECT_THRESH, the threshold applies to the image smoothed by sep's default 3x3 kernel, whose
   noise is 0.375 of the pixel sigma, and at least 5 connected pixels (DETECT_MINAREA) must pass
   it: 1.5 sigma finds no source in 300 blank 64x64 stamps (checked here). No deblending: each
   stamp holds one galaxy by construction, and sep's default deblending split 8 of 30 real
   COSMOS galaxies of the BlendingToolKit sample into clumps (tests/test_photometry.py). The
   central source is the detection whose bounding box holds the stamp centre (nearest centroid
   if several).
2. Its Kron radius (``sep.kron_radius`` within 6 isophotal radii, as SExtractor does), in units of
   the detection ellipse's a and b.
3. One elliptical aperture of semi-axes ``kron_factor`` x kron_radius x (a, b) at angle theta (the
   paper: 1 x Kron radius), the same ellipse in all seven bands, summed with ``sep.sum_ellipse``
   with exact pixel overlap (``subpix=0``; sep's default 5x5 sub-sampling differs from the exact
   sum by up to 0.47 sigma, 99th percentile 0.13 sigma, on 1,384 simulated DC2 galaxies here;
   the issue reported up to 2.2 sigma). Negative fluxes are kept.
4. Flux errors from the noise model, paper eq. 6 denominator
   (:func:`photoz.photometry.noise.aperture_flux_error`) with N_pix the exact aperture area inside the
   stamp; SNR = F / sigma (eq. 6); selection SNR > ``snr_threshold`` in any of ``snr_bands``
   (the paper: SNR > 10 in g or i).
5. Beside it, a matched-filter (Gaussian-weighted, GAaP-like) flux forced with one weight per
   galaxy in all seven bands, its error the eq. 6 form with the weight's effective area
   (:mod:`photoz.photometry.matched`; Kuijken 2008, Horne 1986, Naylor 1998); ``flux_type``
   says which of the two the networks read (:func:`photoz.train.inputs.flux_arrays`). The
   selection always uses the Kron SNR.

Speed: ``sep.extract`` is called once per stamp (about 60 us for 64x64 with a pixel stack
sized to the stamp and a single detection level); the Kron radii and the aperture sums of a whole
chunk are done in one ``sep`` call each, on the stamps stacked into one tall image (a zero-copy
view) or, for ellipses reaching past a stamp's top or bottom edge, on a mosaic with zero-valued
gaps wide enough that no ellipse reaches a neighbouring stamp. Both are pixel-for-pixel the same
as measuring each stamp alone (tests/test_photometry.py); sep's per-call overhead (~10 us) would
otherwise dominate. Measured: 45,000-60,000 galaxy-bands per CPU-second
(``python -m photoz.benchmarks.photometry``).

Known limitation (measured, tests/test_photometry.py): because the 1 x Kron aperture is
re-measured on every noisy image and holds only ~55% of the light, its size follows the noise,
and single-band fluxes scatter 1.0-1.7x (i = 23) to 2x (i = 21) more than eq. 6 says; colours
(adjacent-band flux ratios, the same aperture in every band) scatter as eq. 6 says. With
``kron_factor`` 2.5 (SExtractor's MAG_AUTO) the flux scatter is 0.97-1.10x eq. 6.
"""
