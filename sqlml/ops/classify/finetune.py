"""Fine-tuning the sentence encoder end to end with a cosine classification head (``method='finetune'``).

Frozen embeddings + logistic regression cannot move two intents the encoder places close together
("card arrival" and "card delivery estimate" in Banking77). Fine-tuning updates the encoder itself: every
text's L2-normalised embedding ``e`` is scored against one unit vector per label, ``logits = scale · e · Wᵀ``,
and the encoder and ``W`` learn together by cross-entropy. ``W`` starts at the normalised mean embedding of
each label's rows (the nearest-centroid classifier), so training starts from a sensible head even with
8 rows per label. The result is an encoder folder (safetensors, saved by sentence-transformers) and a linear
head over its normalised embeddings, ``coef = scale · W`` and ``intercept = 0``, the shape
:class:`sqlml.models.heads.Head` stores.

Deterministic for a given seed on CPU (shuffling and dropout are seeded; CUDA kernels may differ in the last bits).
Engine-agnostic: it runs its own copy of the model, never the runtime's serving copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

#: Logit scale of the cosine head: ``softmax(20 · cosine)``, the zero-shot temperature 0.05 (docs/classify.md).
SCALE = 20.0


@dataclass(frozen=True)
class FineTuneOptions:
    """How long and how fast to fine-tune; the defaults are measured in docs/classify.md.

    ``steps``: optimiser steps in all (``None``: :func:`default_steps` of the row count). ``batch_size``: rows per
    step. ``learning_rate``: AdamW's for the encoder; the head's is 100 times larger (it starts at the
    centroids and has far fewer weights). ``max_length``: tokens per text while training (longer texts are
    truncated for the gradient; prediction embeds them whole, as every classifier does).
    """

    steps: int | None = None
    batch_size: int = 32
    learning_rate: float = 1e-4
    max_length: int = 128
    seed: int = 0

    def steps_for(self, rows: int) -> int:
        """The optimiser steps of a run over ``rows`` training rows."""
        return self.steps if self.steps is not None else default_steps(rows, self.batch_size)

    def as_dict(self, rows: int) -> dict[str, float | int]:
        """The options of a run over ``rows`` rows, as ``meta.json`` records them."""
        return {"steps": self.steps_for(rows), "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                "max_length": self.max_length}


def default_steps(rows: int, batch_size: int) -> int:
    """Optimiser steps for ``rows`` training rows: 6 epochs, at least 60 steps, at most 800.

    Bounds the cost on a CPU: 8 rows for each of Banking77's 77 labels take 116 steps (about 100 s on 2 cores),
    its 10,003 rows 800 (2.6 epochs, about 11 minutes); docs/classify.md has the measurements.
    """
    return int(min(800, max(60, -(-6 * rows // batch_size))))


def fine_tune(
    model: SentenceTransformer,
    texts: list[str],
    targets: np.ndarray,
    n_labels: int,
    options: FineTuneOptions,
    on_step: Callable[[], None] = lambda: None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fine-tune ``model`` in place on ``texts`` with label indices ``targets`` (``int (n,)`` in ``[0, n_labels)``).

    Returns the head ``(coef float32 (n_labels, d), intercept float32 (n_labels,))`` over the fine-tuned model's
    L2-normalised embeddings. ``on_step`` is called after every optimiser step (progress bars). Leaves the model
    in evaluation mode.
    """
    import torch

    generator = torch.Generator().manual_seed(options.seed)
    torch.manual_seed(options.seed)  # dropout masks
    device = model.device
    steps = options.steps_for(len(texts))
    window = model.max_seq_length
    model.max_seq_length = min(options.max_length, window or options.max_length)
    y = torch.as_tensor(targets, dtype=torch.long)
    with torch.no_grad():
        model.eval()
        start = torch.cat([_embed(model, texts[i : i + 256]) for i in range(0, len(texts), 256)])
        centroids = torch.zeros(n_labels, start.shape[1], device=device).index_add_(0, y.to(device), start)
    head = torch.nn.Parameter(torch.nn.functional.normalize(centroids, dim=1))
    optimizer = torch.optim.AdamW([
        {"params": [p for p in model.parameters() if p.requires_grad], "lr": options.learning_rate},
        {"params": [head], "lr": options.learning_rate * 100, "weight_decay": 0.0},
    ])
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / steps)
    model.train()
    order = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        if len(order) < options.batch_size:
            order = torch.cat([order, torch.randperm(len(texts), generator=generator)])
        batch, order = order[: options.batch_size], order[options.batch_size :]
        embeddings = _embed(model, [texts[i] for i in batch.tolist()])
        logits = SCALE * embeddings @ torch.nn.functional.normalize(head, dim=1).T
        loss = torch.nn.functional.cross_entropy(logits, y[batch].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        on_step()
    model.eval()
    model.max_seq_length = window
    coef = SCALE * torch.nn.functional.normalize(head.detach(), dim=1)
    return coef.float().cpu().numpy(), np.zeros(n_labels, dtype=np.float32)


def _embed(model: SentenceTransformer, texts: list[str]) -> torch.Tensor:
    """L2-normalised ``float32 (len(texts), d)`` embeddings through ``model``'s modules, with gradients when training."""
    import torch

    raw = model.preprocess(texts) if hasattr(model, "preprocess") else model.tokenize(texts)
    features = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in raw.items()}
    return torch.nn.functional.normalize(model(features)["sentence_embedding"].float(), dim=1)
