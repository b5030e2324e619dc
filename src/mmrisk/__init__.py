"""mmrisk: progression risk of multiple myeloma on lenalidomide maintenance after ASCT."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mmrisk")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
