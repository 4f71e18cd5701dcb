"""The README shows every setting with its current default (generated from the config)."""

from __future__ import annotations

from server.config import settings_table
from tests.conftest import REPO


def test_readme_settings_table_is_current() -> None:
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- settings:start -->\n") + len("<!-- settings:start -->\n")
    end = readme.index("<!-- settings:end -->")
    assert readme[start:end] == settings_table(), "paste server.config.settings_table() into README.md"
