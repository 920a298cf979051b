"""The package version, in one place (read by ``mlp_core`` and by the files it writes)."""

__version__ = "0.1.0"
