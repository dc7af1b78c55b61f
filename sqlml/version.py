"""The version of sqlml, recorded in what it stores (trained heads) and shown by ``sqlml --version``."""

__version__ = "0.1.0"
