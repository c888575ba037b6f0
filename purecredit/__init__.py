"""purecredit: pure-credit (unsecured) inclusive lending, from source data to post-loan warnings."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("purecredit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
