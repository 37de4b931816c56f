"""Fixtures shared by the shell tests: the vendor files are checked on real AG News text."""

from tests.annotation.conftest import ag_news  # noqa: F401
