"""The ``photometry`` config section as typed fields (see :mod:`photoz.photometry`)."""

from __future__ import annotations

from dataclasses import dataclass

#: Fewest selected galaxies per split that the later stages need: two training galaxies (a
#: BatchNorm1d layer in training mode needs a batch of at least 2), one validation galaxy (the
#: learning-rate schedule and early stopping), one test galaxy (the metrics). Passed by the
#: workflow as ``measure_photometry(min_selected=...)``.
TRAINING_NEEDS: dict[str, int] = {"train": 2, "validation": 1, "test": 1}


@dataclass(frozen=True)
class PhotometryConfig:
    """The ``photometry`` config section as typed fields (values: the schema's, paper Sect. 3).

    Parameters
    ----------
    kron_factor : float
        Aperture semi-axes in Kron radii (paper: 1).
    snr_threshold : float
        Selection threshold on the eq. 6 SNR (paper: 10).
    snr_bands : tuple of str
        A galaxy is selected if SNR > threshold in any of these (paper: g, i).
    detection_bands : tuple of str
        Bands summed into the detection image (paper: g, r, i, z).
    detection_threshold : float
        sep.extract threshold in units of the detection image's background sigma.
    flux_type : {"kron", "matched"}
        The fluxes the networks (MLP, hybrids) read: the ``kron_factor`` aperture (the paper)
        or the matched-filter flux (:mod:`photoz.photometry.matched`). Both are in the table;
        the SNR selection always uses the Kron flux.
    """

    kron_factor: float
    snr_threshold: float
    snr_bands: tuple[str, ...]
    detection_bands: tuple[str, ...]
    detection_threshold: float
    flux_type: str

    @classmethod
    def from_dict(cls, cfg: dict) -> PhotometryConfig:
        """From the schema-validated, schema-filled section (``photoz.config.validate_config``
        checks every key, type and range; ``photoz.config.default_config()`` gives the defaults).
        """
        return cls(kron_factor=float(cfg["kron_factor"]),
                   snr_threshold=float(cfg["snr_threshold"]),
                   snr_bands=tuple(cfg["snr_bands"]),
                   detection_bands=tuple(cfg["detection_bands"]),
                   detection_threshold=float(cfg["detection_threshold"]),
                   flux_type=str(cfg["flux_type"]))
