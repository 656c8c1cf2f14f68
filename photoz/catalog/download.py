"""Fetch the optional CSST instrument data from its public source (network needed).

The default run never needs these files. Settings that do (``instrument.throughput`` pointing at the
galaxyGenius curves, ``simulate.psf: images``) read them from ``data_dir``; where they are absent the
workflow rule ``download_csst_data`` fetches them from github ``xczhou-astro/galaxyGenius`` (MIT,
Zhou et al. 2025, A&A 700, A120) at the commit the project was tested with, and checks each file's
SHA-256 against the manifest of ``../shared/data/README.md``.
"""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

from photoz.errors import PhotozDataError
from photoz.io import atomic_path

#: galaxyGenius commit the files were read at (../shared/data/README.md, section 1a).
GALAXYGENIUS_COMMIT = "ed88dfea4806deec34b8ad7ccfe2f00de7191397"
_RAW = f"https://raw.githubusercontent.com/xczhou-astro/galaxyGenius/{GALAXYGENIUS_COMMIT}/Data"

#: data_dir-relative path -> (source URL, first 16 hex digits of its SHA-256).
CSST_FILES: dict[str, tuple[str, str]] = {
    "csst/throughput_galaxyGenius/NUV.fil": (f"{_RAW}/filters/CSST/NUV.fil", "77ef87005818ce05"),
    "csst/throughput_galaxyGenius/u.fil": (f"{_RAW}/filters/CSST/u.fil", "7169651e011b8362"),
    "csst/throughput_galaxyGenius/g.fil": (f"{_RAW}/filters/CSST/g.fil", "d7ba6fde9940a446"),
    "csst/throughput_galaxyGenius/r.fil": (f"{_RAW}/filters/CSST/r.fil", "867fff9cf6076d8e"),
    "csst/throughput_galaxyGenius/i.fil": (f"{_RAW}/filters/CSST/i.fil", "19a7e3ad17072f7a"),
    "csst/throughput_galaxyGenius/z.fil": (f"{_RAW}/filters/CSST/z.fil", "53a15fd8afb4a434"),
    "csst/throughput_galaxyGenius/y.fil": (f"{_RAW}/filters/CSST/y.fil", "ffdc1f0b13d77d60"),
    "csst/psf_galaxyGenius/NUV.npy": (f"{_RAW}/PSFs/CSST/NUV.npy", "a24a75035798227b"),
    "csst/psf_galaxyGenius/u.npy": (f"{_RAW}/PSFs/CSST/u.npy", "876014160d4b52a7"),
    "csst/psf_galaxyGenius/g.npy": (f"{_RAW}/PSFs/CSST/g.npy", "b3295ff44d19957e"),
    "csst/psf_galaxyGenius/r.npy": (f"{_RAW}/PSFs/CSST/r.npy", "770e468250423d75"),
    "csst/psf_galaxyGenius/i.npy": (f"{_RAW}/PSFs/CSST/i.npy", "3518611eb6353087"),
    "csst/psf_galaxyGenius/z.npy": (f"{_RAW}/PSFs/CSST/z.npy", "ebd2cfc2bee4b589"),
    "csst/psf_galaxyGenius/y.npy": (f"{_RAW}/PSFs/CSST/y.npy", "ad0c21dc03cec52d"),
}


def sha256_prefix(path: str | Path) -> str:
    """First 16 hex digits of a file's SHA-256 (the manifest's form)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def fetch_csst_file(relative: str, out_path: str | Path, timeout: float = 60.0) -> None:
    """Download one file of :data:`CSST_FILES` to ``out_path``, atomically, checking its SHA-256.

    Parameters
    ----------
    relative : str
        Its key in :data:`CSST_FILES`, e.g. ``"csst/psf_galaxyGenius/g.npy"``.
    out_path : str or Path
        Where to write it.

    Raises
    ------
    PhotozDataError
        For an unknown file, a failed download or a checksum mismatch (nothing is left at ``out_path``).
    """
    if relative not in CSST_FILES:
        raise PhotozDataError(f"no public source known for {relative}; known: {sorted(CSST_FILES)}")
    url, digest = CSST_FILES[relative]
    try:
        with atomic_path(out_path) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                tmp.write_bytes(response.read())
            if sha256_prefix(tmp) != digest:
                raise PhotozDataError(
                    f"{url}: SHA-256 {sha256_prefix(tmp)} differs from the manifest's {digest}"
                )
    except OSError as exc:
        raise PhotozDataError(f"cannot download {url} to {out_path}: {exc}") from exc
