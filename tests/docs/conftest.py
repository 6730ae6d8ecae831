"""The built documentation site, shared by the tests of one session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.site import build_site


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as ``make docs`` builds it, from the current sources."""
    return build_site(tmp_path_factory.mktemp("site") / "site")
