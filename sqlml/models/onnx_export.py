"""The child process of :mod:`sqlml.models.onnx_forward`: trace one model's forward pass to ONNX, graph bytes to stdout.

    python -m sqlml.models.onnx_export NAME KIND LOCATION

(``NAME``, ``KIND``, ``LOCATION``: the :class:`~sqlml.models.ref.ModelRef` the parent resolved and checked.) The
graph takes ``input_ids`` and ``attention_mask`` (``int64 (rows, length)``, both axes dynamic) and gives
``embedding``, ``float32 (rows, dimension)``, L2-normalised: :meth:`Encoder.forward`'s contract. A failure exits
non-zero with the reason on stderr's last line.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings

from sqlml.models.ref import ModelRef


def export_graph(ref: ModelRef) -> bytes:
    """The ONNX graph of ``ref``'s modules and L2 normalisation, traced on :data:`~sqlml.models.onnx_forward.PROBES`."""
    import torch

    from sqlml.models.encoder import Encoder
    from sqlml.models.onnx_forward import PROBES

    encoder = Encoder.load(ref, "cpu", "float32")
    ids, mask = encoder.pad_texts(list(PROBES))  # two rows of different lengths: the trace sees padding

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.traced = encoder.model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            out = self.traced.forward(encoder.features(input_ids, attention_mask))["sentence_embedding"]
            return torch.nn.functional.normalize(out.float(), p=2, dim=1)

    buffer = io.BytesIO()
    axes = {0: "rows", 1: "length"}
    with torch.no_grad():
        torch.onnx.export(
            Pipeline().eval(), (torch.from_numpy(ids), torch.from_numpy(mask)), buffer,
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes}, opset_version=17, dynamo=False,
        )
    return buffer.getvalue()


def main(argv: list[str]) -> None:
    """Write the graph of the model ``argv = [name, kind, location]`` to stdout."""
    # this process exists for the export: the tracer's notes on Python branches it records as constants and the
    # legacy exporter's deprecation notice are not the user's business (the parent checks the graph's outputs)
    warnings.simplefilter("ignore")
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the graph
        graph = export_graph(ModelRef(*argv))
    sys.stdout.buffer.write(graph)


if __name__ == "__main__":
    main(sys.argv[1:])
