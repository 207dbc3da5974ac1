"""The version of dexkit, in one place: the package, reports and the build read it here."""

__version__ = "0.1.0"
