"""The ``photometry`` config section: defaults and validation (see :mod:`photoz.photometry`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from photoz import BANDS
from photoz.errors import PhotozConfigError

#: Fewest selected galaxies per split that the later stages need: two training galaxies (a
#: BatchNorm1d layer in training mode needs a batch of at least 2), one validation galaxy (the
#: learning-rate schedule and early stopping), one test galaxy (the metrics). Passed by the
#: workflow as ``measure_photometry(min_selected=...)``.
TRAINING_NEEDS: dict[str, int] = {"train": 2, "validation": 1, "test": 1}

#: Accepted ``photometry.flux_type`` values: the networks' flux (see :class:`PhotometryConfig`).
FLUX_TYPES: tuple[str, ...] = ("kron", "matched")

PHOT_DEFAULTS: dict = {
    "kron_factor": 1.0,
    "snr_threshold": 10.0,
    "snr_bands": ["g", "i"],
    "detection_bands": ["g", "r", "i", "z"],
    "detection_threshold": 1.5,
    "flux_type": "kron",
}
"""Defaults of the ``photometry`` config section (paper Sect. 3; PAPER_SPEC §1, §3)."""


@dataclass(frozen=True)
class PhotometryConfig:
    """Validated ``photometry`` config section (see :data:`PHOT_DEFAULTS`).

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

    kron_factor: float = 1.0
    snr_threshold: float = 10.0
    snr_bands: tuple[str, ...] = ("g", "i")
    detection_bands: tuple[str, ...] = ("g", "r", "i", "z")
    detection_threshold: float = 1.5
    flux_type: str = "kron"

    @classmethod
    def from_dict(cls, cfg: dict | None) -> PhotometryConfig:
        """Build from the config dict; missing keys take :data:`PHOT_DEFAULTS`.

        Raises
        ------
        PhotozConfigError
            For an unknown key, an unknown band, a non-positive or non-finite factor or
            detection threshold, a non-finite SNR threshold, or a ``flux_type`` not in
            :data:`FLUX_TYPES`.
        """
        cfg = dict(cfg or {})
        unknown = set(cfg) - set(PHOT_DEFAULTS)
        if unknown:
            raise PhotozConfigError(
                f"photometry: unknown keys {sorted(unknown)}; known: {sorted(PHOT_DEFAULTS)}"
            )
        merged = {**PHOT_DEFAULTS, **cfg}
        for key in ("snr_bands", "detection_bands"):
            value = merged[key]
            if isinstance(value, str) or not value:
                raise PhotozConfigError(f"photometry.{key}: must be a non-empty list of bands")
            bad = [b for b in value if b not in BANDS]
            if bad:
                raise PhotozConfigError(
                    f"photometry.{key}: unknown bands {bad}; bands are {' '.join(BANDS)}"
                )
            merged[key] = tuple(value)
        for key in ("kron_factor", "detection_threshold"):
            try:
                merged[key] = float(merged[key])
            except (TypeError, ValueError) as exc:
                raise PhotozConfigError(f"photometry.{key}: not a number: {merged[key]!r}") from exc
            if not (math.isfinite(merged[key]) and merged[key] > 0):
                raise PhotozConfigError(f"photometry.{key}: must be a finite number > 0, got "
                                        f"{merged[key]}")
        try:
            merged["snr_threshold"] = float(merged["snr_threshold"])
        except (TypeError, ValueError) as exc:
            raise PhotozConfigError(
                f"photometry.snr_threshold: not a number: {merged['snr_threshold']!r}"
            ) from exc
        if not math.isfinite(merged["snr_threshold"]):
            raise PhotozConfigError(f"photometry.snr_threshold: must be a finite number, got "
                                    f"{merged['snr_threshold']} (NaN would select nobody)")
        if merged["flux_type"] not in FLUX_TYPES:
            raise PhotozConfigError(f"photometry.flux_type: must be one of {list(FLUX_TYPES)}, "
                                    f"got {merged['flux_type']!r}")
        return cls(**merged)
