"""What models exist for this process: the default, registered aliases, and everything loaded."""

from __future__ import annotations

from dataclasses import dataclass, asdict
from typing import Any

from sqlml.models import registry
from sqlml.models.dimension import read_dimension


@dataclass(frozen=True)
class ModelInfo:
    """One row of a model listing. ``device``/``dtype`` are ``None`` until the model is loaded."""

    name: str
    id: str
    kind: str
    dimension: int | None
    device: str | None
    dtype: str | None
    loaded: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ModelList(list[ModelInfo]):
    """A list of :class:`ModelInfo` that renders as a table in notebooks and terminals."""

    COLUMNS = ("name", "id", "kind", "dimension", "device", "dtype", "loaded")

    def rows(self) -> list[tuple[Any, ...]]:
        return [tuple(getattr(m, c) for c in self.COLUMNS) for m in self]

    def __str__(self) -> str:
        cells = [self.COLUMNS, *[tuple("" if v is None else str(v) for v in row) for row in self.rows()]]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.COLUMNS))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells)

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{c}</th>" for c in self.COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>" for row in self.rows()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def list_models() -> ModelList:
    """The default and registered models (loaded or not), then other loaded models; one row per device."""
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
    return found
