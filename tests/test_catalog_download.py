"""photoz.catalog.download: the manifest agrees with ../shared/data; checksum and failures (no network)."""

import hashlib

import pytest

from photoz.catalog import download
from photoz.catalog.download import CSST_FILES, sha256_prefix
from photoz.errors import PhotozDataError


def test_manifest_matches_shared_copies(shared_data):
    for relative, (url, digest) in CSST_FILES.items():
        assert url.endswith(relative.split("/")[-1])
        assert sha256_prefix(shared_data / relative) == digest, relative


class _Response:
    """What ``urllib.request.urlopen`` returns, with fixed bytes (no network)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _serve(monkeypatch, data: bytes, expected: bytes):
    """Point one manifest entry at a fake URL whose 'download' returns ``data``."""
    digest = hashlib.sha256(expected).hexdigest()[:16]
    monkeypatch.setitem(download.CSST_FILES, "csst/x/a.fil", ("https://example.invalid/a.fil",
                                                               digest))
    monkeypatch.setattr(download.urllib.request, "urlopen",
                        lambda url, timeout: _Response(data))


def test_download_checks_the_checksum_and_leaves_nothing_on_a_mismatch(tmp_path, monkeypatch):
    out = tmp_path / "d" / "a.fil"
    _serve(monkeypatch, b"tampered bytes", expected=b"the real curve")
    with pytest.raises(PhotozDataError, match=r"a\.fil: SHA-256 [0-9a-f]{16} differs from the "
                                              r"manifest's [0-9a-f]{16}"):
        download.fetch_csst_file("csst/x/a.fil", out)
    assert not out.exists() and list(out.parent.iterdir()) == []  # no temporary file either
    _serve(monkeypatch, b"the real curve", expected=b"the real curve")
    download.fetch_csst_file("csst/x/a.fil", out)
    assert out.read_bytes() == b"the real curve"


def test_download_of_an_unknown_file_or_a_failed_connection_names_it(tmp_path, monkeypatch):
    with pytest.raises(PhotozDataError, match="no public source known for csst/nope"):
        download.fetch_csst_file("csst/nope", tmp_path / "x")

    def refuse(url, timeout):
        raise OSError("network unreachable")

    monkeypatch.setattr(download.urllib.request, "urlopen", refuse)
    with pytest.raises(PhotozDataError, match=r"cannot download .*NUV\.fil.*unreachable"):
        download.fetch_csst_file("csst/throughput_galaxyGenius/NUV.fil", tmp_path / "NUV.fil")
    assert not (tmp_path / "NUV.fil").exists()
