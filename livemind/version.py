"""The package version, on the floor every room may import."""

__version__ = "0.1.0"
