"""Shared test fixtures: where the repository and the optional real data live."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real CSST curves and COSMOS samples); skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data directory {SHARED_DATA} is absent (see README: data_dir)")
    return SHARED_DATA
