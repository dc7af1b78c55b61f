"""Where does the embedding worker's time go during the W1 SQL pass? (prints JSON)

Run 14 (H200) found the worker busy 94% of the headline pass, at ~137 ms per 14k-row round, while the
same worker alone on pre-tokenized rows ran about twice as fast in earlier runs. This script splits a
round into its steps, in the worker thread only: merging and sorting the requests, padding, launching
(pinned copies, graph replay), and waiting for results; and it estimates the device's own time from the
batch shapes launched (each captured shape replayed alone afterwards, timed with CUDA events). It does
that for the worker alone (pre-tokenized 2,048-row requests queued at once) and for the SQL pass
(Parquet with 4,096-row groups, DuckDB's default threads), optionally at several GIL switch intervals.
Run it again with ``SQLML_PACKED=off`` for the padded forward pass (sqlml/engine/cuda/packed.py).

  python benchmarks/profile_rounds.py --random-weights --device cuda --rows 200000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support

from runtime_rounds import round_summary  # noqa: E402
from workloads import w1  # noqa: E402


class WorkerSteps:
    """Wraps the runtime's steps; sums their seconds when called from a runtime worker thread, and
    counts the batch shapes launched."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.shapes: Counter[tuple[int, int]] = Counter()
        self._undo: list[tuple[object, str, object]] = []

    def install(self) -> None:
        from sqlml.engine.cuda import launcher
        from sqlml.engine.runtime import Runtime
        from sqlml.models.tokens import TokenBatch

        self._wrap(Runtime, "_run", "round")
        self._wrap(TokenBatch, "concat", "merge", classmethod_=True)
        self._wrap(TokenBatch, "pad", "pad")
        self._wrap(launcher.Launcher, "padded_lengths", "bucket")
        self._wrap(launcher.Launcher, "launch", "launch", shapes=True)
        self._wrap(launcher.Launcher, "launch_packed", "launch", shapes=True)
        self._wrap(launcher._Pending, "result", "wait_result")

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    def reset(self) -> None:
        self.seconds.clear()
        self.shapes.clear()

    def _wrap(self, owner: type, name: str, label: str, classmethod_: bool = False, shapes: bool = False) -> None:
        original = owner.__dict__[name]
        function = original.__func__ if classmethod_ else original

        def timed(*args, **kwargs):
            if not threading.current_thread().name.startswith("sqlml-runtime"):
                return function(*args, **kwargs)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                if shapes and kwargs.get("replay", args[3] if len(args) > 3 else False):
                    self.shapes[(*args[1].shape, *args[2].shape)] += 1

        setattr(owner, name, classmethod(timed) if classmethod_ else timed)
        self._undo.append((owner, name, original))


def device_seconds(launcher, shapes: Counter[tuple[int, int]], repeats: int = 5) -> float | None:
    """Σ over launched shapes of (batches × the device time of one replay of that shape's graph); ``None``
    when a batch ran without a graph."""
    graphs = getattr(launcher, "_graphs", None)
    if graphs is None or not graphs.shapes:
        return None
    import torch

    total = 0.0
    with torch.cuda.stream(launcher._stream):
        for shape, count in shapes.items():
            entry = graphs._graphs.get(shape)
            if entry is None:
                return None
            entry.graph.replay()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(repeats):
                entry.graph.replay()
            end.record()
            end.synchronize()
            total += count * start.elapsed_time(end) / repeats / 1000
    return total


def report(steps: WorkerSteps, launcher, before, after, wall: float, rows: int) -> dict[str, object]:
    padded = after.padded_tokens - before.padded_tokens
    device = device_seconds(launcher, steps.shapes) if launcher.encoder.device.startswith("cuda") else None
    return {
        "rows_per_s": rows / wall,
        "wall_s": wall,
        **round_summary(vars(before), vars(after), wall),
        "worker_step_seconds": {k: round(v, 4) for k, v in sorted(steps.seconds.items())},
        "batches": after.batches - before.batches,
        "shapes": len(steps.shapes),
        "tokens_over_padded": (after.tokens - before.tokens) / padded if padded else None,
        "device_seconds_estimate": device,
        "device_busy_share_estimate": device / wall if device is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--row-group-rows", type=int, default=4096)
    parser.add_argument("--switch-intervals", default="0.005", help="sys.setswitchinterval values for the SQL pass (run 15: 0.001 and 0.0002 changed nothing)")
    args = parser.parse_args()

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import sqlml
    from sqlml.engine.cuda.launcher import launcher_for
    from sqlml.engine.runtime import Runtime, _Request, get_runtime
    from sqlml.models.registry import default_model_dir
    from tests.support.random_model import build_random_model

    model_dir = str(build_random_model(tempfile.mkdtemp())) if args.random_weights else str(default_model_dir())
    texts = w1(args.rows)
    runtime = get_runtime(model_dir, args.device)
    encoder = runtime.encoder
    launcher = launcher_for(encoder)
    out: dict[str, object] = {"rows": len(texts), "device": encoder.device, "dtype": encoder.dtype,
                              "packed": launcher.packs_tokens,
                              "batch_size": runtime.batch_size, "max_batch_tokens": runtime.max_batch_tokens}
    steps = WorkerSteps()
    steps.install()

    # The worker alone: pre-tokenized 2,048-row requests, all queued at once.
    chunks = [encoder.tokenize(texts[i : i + 2048]) for i in range(0, len(texts), 2048)]
    alone = Runtime(encoder, runtime.batch_size, runtime.max_batch_tokens)
    for _ in range(2):  # the first pass captures graphs
        steps.reset()
        before = alone.snapshot()
        start = time.perf_counter()
        requests = [_Request(chunk) for chunk in chunks]
        for request in requests:
            alone._queue.put(request)
        for request in requests:
            request.future.result()
        wall = time.perf_counter() - start
    out["worker_alone"] = report(steps, launcher, before, alone.snapshot(), wall, len(texts))

    folder = Path(tempfile.mkdtemp())
    path = folder / "w1.parquet"
    pq.write_table(pa.table({"s": texts}), path, row_group_size=args.row_group_rows)
    con = sqlml.connect(model=model_dir, device=args.device, cache=False)
    con.sql(f"SELECT embed(s) FROM '{path}'").to_arrow_table()  # warm-up: every shape captured
    default_interval = sys.getswitchinterval()
    sql = {}
    for interval in (float(x) for x in args.switch_intervals.split(",")):
        sys.setswitchinterval(interval)
        for turn in range(2):
            steps.reset()
            before = runtime.snapshot()
            start = time.perf_counter()
            con.sql(f"SELECT embed(s) FROM '{path}'").to_arrow_table()
            wall = time.perf_counter() - start
            sql[f"switch_{interval}_turn_{turn}"] = report(steps, launcher, before, runtime.snapshot(), wall, len(texts))
    sys.setswitchinterval(default_interval)
    con.close()
    steps.uninstall()
    out["sql"] = sql
    graphs = getattr(launcher, "_graphs", None)
    out["cuda_graph_shapes"] = graphs.shapes if graphs is not None else None
    out["mean_tokens"] = float(np.mean([c.lengths.mean() for c in chunks]))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
