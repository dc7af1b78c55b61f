"""Zero-shot labels refined over the rows being classified (transductive, an explicit option).

A label name's embedding is a rough guess of where its texts lie. Refinement moves each label's vector toward
the rows it wins most clearly, then classifies again: over a set of rows of one kind (news articles, support
tickets) it corrects a label name that sits off its texts. The result depends on the whole set of rows, so it
is offered only where that set is explicit: one call over a list (Python) or a whole table (SQL's
``sqlml_classify``), never per DuckDB chunk. The constants were chosen on the dev splits of six corpora and
are measured on their test splits in docs/classify.md.
"""

from __future__ import annotations

import math

import numpy as np

#: Refinement starts from the bare label names: the label phrasing the dev splits chose (docs/classify.md).
REFINE_TEMPLATE = "{label}"
#: The softmax temperature of refined labels' probabilities (lowest mean dev NLL; refined vectors lie closer to
#: their rows than label names do, so the plain zero-shot 0.05 would be over-confident).
REFINE_TEMPERATURE = 0.07
#: Rounds of "assign every row, move each label toward its clearest rows".
ROUNDS = 5
#: Weight of the label's own embedding in its refined vector (the rest: the mean of its clearest rows).
LABEL_WEIGHT = 0.5
#: Share of a label's assigned rows that move it: those with the largest margin over the runner-up label.
CLEAR_SHARE = 0.3


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def refine_label_vectors(labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Label vectors moved toward the rows each label wins most clearly.

    ``labels``: ``(k, d)`` unit vectors (the labels' embeddings); ``rows``: ``(n, d)`` unit vectors (the texts
    being classified; no NULL rows). Returns ``float32 (k, d)`` unit vectors. Each of :data:`ROUNDS` rounds
    assigns every row to its most similar vector; a label with assigned rows takes the ``ceil(CLEAR_SHARE · m)``
    of its ``m`` rows with the largest margin (best minus second-best cosine; ties keep row order) and
    becomes ``unit(LABEL_WEIGHT · label + (1 − LABEL_WEIGHT) · unit(mean of those rows))``; a label that wins
    no row keeps its vector. The label's own embedding stays in every round, so a label cannot drift onto
    another label's rows. Deterministic: the same rows in the same order give the same vectors; with one
    label or no rows the labels come back unchanged. Memory: one ``(n, k)`` float32 score matrix and its sort
    order beside the rows (no copy of them when they are float32). Cost: ``ROUNDS`` products and sorts, O(n·k).
    """
    if len(rows) == 0 or len(labels) < 2:
        return labels.astype(np.float32)
    rows = rows.astype(np.float32, copy=False)  # no copy of a table's vectors; means are summed in float64
    names = labels.astype(np.float64)
    current = names
    for _ in range(ROUNDS):
        scores = rows @ current.T.astype(np.float32)
        winner = np.argmax(scores, axis=1)
        top_two = np.partition(scores, len(labels) - 2, axis=1)[:, -2:]
        margin = top_two[:, 1] - top_two[:, 0]
        # rows grouped by label, each group by descending margin (a stable sort: ties keep row order)
        order = np.lexsort((-margin, winner))
        counts = np.bincount(winner, minlength=len(labels))
        starts = np.cumsum(counts) - counts
        moved = current.copy()
        for label in np.flatnonzero(counts):
            clearest = order[starts[label] : starts[label] + max(1, math.ceil(CLEAR_SHARE * counts[label]))]
            centre = _unit(rows[clearest].mean(axis=0, dtype=np.float64))
            moved[label] = _unit(LABEL_WEIGHT * names[label] + (1 - LABEL_WEIGHT) * centre)
        current = moved
    return current.astype(np.float32)
