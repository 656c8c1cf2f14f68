"""The download manifest agrees with the real files in ../shared/data (no download is made)."""

from photoz.download import CSST_FILES, sha256_prefix


def test_manifest_matches_shared_copies(shared_data):
    for relative, (url, digest) in CSST_FILES.items():
        assert url.endswith(relative.split("/")[-1])
        assert sha256_prefix(shared_data / relative) == digest, relative
