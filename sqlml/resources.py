"""Files shipped with sqlml: the public SQL macros and the sample articles, inside a wheel or a checkout."""

from __future__ import annotations

from pathlib import Path

from sqlml.errors import InputFileError

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def udfs_dir() -> Path:
    """The folder of public macro files: inside the wheel (``sqlml/udfs``), or the checkout's top-level ``udfs/``."""
    packaged = _PACKAGE / "udfs"
    return packaged if packaged.is_dir() else _CHECKOUT / "udfs"


def sample_articles_path() -> Path:
    """The bundled ``articles.parquet`` (36 short news-style articles written for sqlml)."""
    for candidate in (_PACKAGE / "data" / "articles.parquet", _CHECKOUT / "examples" / "data" / "articles.parquet"):
        if candidate.is_file():
            return candidate
    raise InputFileError("the bundled sample articles are missing from this installation; reinstall sqlml")
