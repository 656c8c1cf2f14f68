"""photoz: CSST photometric redshifts from simulated galaxy images.

Reproduces Zhou et al. 2022, MNRAS 512, 4593 ("Extracting photometric redshift from galaxy flux
and image data using neural networks in the CSST survey"): GalSim simulates CSST seven-band
(NUV u g r i z y) stamps, aperture photometry measures fluxes, and an MLP, an inception CNN and a
hybrid network predict redshifts.
"""

from photoz.errors import PhotozConfigError, PhotozDataError, PhotozError

BANDS: tuple[str, ...] = ("NUV", "u", "g", "r", "i", "z", "y")
"""The seven CSST survey-camera bands, blue to red (Zhou et al. 2022, Sect. 2)."""

__version__ = "0.1.0"
__all__ = ["BANDS", "PhotozError", "PhotozConfigError", "PhotozDataError", "__version__"]
