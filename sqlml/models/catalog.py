"""What models exist for this process: the default, registered aliases, everything loaded, and the
trained classifier heads of the store (``$SQLML_HOME/heads``), with their held-out metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlml.models import registry
from sqlml.models.dimension import read_dimension


@dataclass(frozen=True)
class ModelInfo:
    """One row of a model listing. ``device``/``dtype`` are ``None`` until the model is loaded.

    ``dimension`` is the output width: the embedding size, or the number of labels of a classifier.
    ``accuracy``/``macro_f1`` are a trained head's held-out metrics (``None`` for other kinds).
    """

    name: str
    id: str
    kind: str
    dimension: int | None
    device: str | None
    dtype: str | None
    loaded: bool
    accuracy: float | None = None
    macro_f1: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ModelList(list[ModelInfo]):
    """A list of :class:`ModelInfo` that renders as a table in notebooks and terminals."""

    COLUMNS = ("name", "id", "kind", "dimension", "device", "dtype", "loaded", "accuracy", "macro_f1")

    def rows(self) -> list[tuple[Any, ...]]:
        return [tuple(getattr(m, c) for c in self.COLUMNS) for m in self]

    def __str__(self) -> str:
        cells = [self.COLUMNS, *[tuple("" if v is None else str(v) for v in row) for row in self.rows()]]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.COLUMNS))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells)

    def __repr__(self) -> str:
        # The aligned table, also at an IPython prompt and in a notebook's text/plain output.
        return str(self)

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{c}</th>" for c in self.COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>" for row in self.rows()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def list_models() -> ModelList:
    """Known and loaded models; a model loaded on several devices appears once per device.

    Embedding models (kind ``'embedding'``), every stored version of every trained head (kind
    ``'classifier-head'``, named ``'name@version'``) and loaded Hugging Face sequence classifiers
    (kind ``'hf-classifier'``).
    """
    found = ModelList()
    loaded = registry.loaded_encoders()
    named = [registry.resolve(registry.DEFAULT_NAME)] + [registry.resolve(n) for n in sorted(registry.aliases())]
    for ref in named:
        on_devices = [e for e in loaded if e.ref.location == ref.location]
        if not on_devices:
            found.append(ModelInfo(ref.name, ref.display_id, "embedding", read_dimension(ref.location), None, None, False))
        for enc in on_devices:
            found.append(ModelInfo(ref.name, ref.display_id, "embedding", enc.dimension, enc.device, enc.dtype, True))
    named_locations = {ref.location for ref in named}
    for enc in loaded:
        if enc.ref.location not in named_locations:
            found.append(ModelInfo(enc.ref.name, enc.ref.display_id, "embedding", enc.dimension, enc.device, enc.dtype, True))
    found.extend(_heads())
    found.extend(_hf_classifiers())
    return found


def _heads() -> list[ModelInfo]:
    from sqlml.models.heads import cached_folders, list_heads

    rows = []
    loaded = cached_folders()
    for meta in list_heads():
        labels = meta.get("labels")
        metrics = meta.get("metrics") or {}
        where = meta["path"] if "error" not in meta else f"{meta['path']} ({meta['error']})"
        rows.append(ModelInfo(f"{meta['name']}@{meta['version']}", where, "classifier-head",
                              len(labels) if isinstance(labels, list) else None, None, None, meta["path"] in loaded,
                              _rounded(metrics.get("accuracy")), _rounded(metrics.get("macro_f1"))))
    return rows


def _rounded(value: object) -> float | None:
    return round(value, 4) if isinstance(value, float) else None


def _hf_classifiers() -> list[ModelInfo]:
    from sqlml.models.hf_classifier import loaded_classifiers

    return [ModelInfo(c.path, c.path, "hf-classifier", c.dimension, c.device, c.dtype, True) for c in loaded_classifiers()]
