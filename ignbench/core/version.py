"""The installed ignbench's version, one place for the package, the CLI and the report."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ignbench")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+source"
