"""The inference runtime: one worker thread per (model, device) owns the model and runs every batch.

Callers (DuckDB threads, the CLI, Ray actors) call :meth:`Runtime.submit` with a list of texts. The
caller's own thread tokenizes (:mod:`sqlml.engine.tokenize`; the Rust tokenizer and blingfire release the
GIL, so DuckDB's threads tokenize in parallel); the worker then merges all requests waiting in its
queue, sorts their rows by length, cuts them into batches bounded by ``batch_size`` rows and
``max_batch_tokens`` padded tokens, runs them, and hands every caller its rows back in the caller's order.

A round merges at most ``batch_size`` rows, so while one round runs on the device the callers of the
previous round are already tokenizing their next chunks. An embedding encoder runs through its
launcher (:mod:`sqlml.engine.cuda.launcher`): inside a round batch i+1 is padded and queued before
batch i's result is awaited. A launcher that replays CUDA graphs (``pads_to_buckets``) gets its batches
planned and padded to a few shapes (:mod:`sqlml.engine.batching`). One that ``packs_tokens``
(:mod:`sqlml.engine.cuda.packed`) gets no padding at all: its rows go in their order, laid end to end,
in batches bounded by ``batch_size`` rows and ``max_batch_tokens`` real tokens, filled to a few
capacities when it replays graphs. Other models (sequence classifiers) run their ``forward`` per batch.

Operations see a runtime only through its interface (:class:`RuntimeView`): ``submit``/``embed``,
``dimension``, ``device``, ``dtype``, ``max_seq_length``, ``fingerprint``, ``model_name``, ``model_id``
and ``token_lengths``; never the model inside.

On an out-of-memory error a batch is halved and retried (down to one row); no row is lost or
reordered. An exception fails only the requests of that round; the worker lives on.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sqlml.config import Settings
from sqlml.engine.batching import bucket_rows, pack, packed_capacity, packed_ladder, plan_batches, plan_packed
from sqlml.engine.cuda.launcher import launcher_for
from sqlml.engine.pending import Pending, Ready
from sqlml.engine.tokenize import tokenize
from sqlml.models.encoder import Encoder
from sqlml.models.tokenizer import TextTokenizer
from sqlml.models.tokens import TokenBatch

#: How long a GPU worker waits for more requests before starting a round smaller than ``batch_size``.
GATHER_SECONDS = 0.002
#: How long interpreter exit waits for a worker to finish the batch it is running.
CLOSE_TIMEOUT_SECONDS = 30.0


class BatchModel(Protocol):
    """What the runtime needs of a model: :class:`sqlml.models.encoder.Encoder` is one, a sequence
    classifier (:class:`sqlml.models.hf_classifier.HFClassifier`, rows → label probabilities) another."""

    device: str
    dtype: str
    pad_id: int
    max_seq_length: int
    tokenizer: TextTokenizer

    @property
    def dimension(self) -> int:
        """Width of one output row."""

    @property
    def name(self) -> str:
        """The name the model was asked for."""

    @property
    def display_id(self) -> str:
        """A human-readable id of the model."""

    @property
    def fingerprint(self) -> str:
        """A stable id of the model's files."""

    def tokenize(self, texts: list[str]) -> TokenBatch:
        """Token ids per text, in the calling thread; called from many threads at once."""

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """``(rows, length)`` int64 pair → ``float32 (rows, dimension)``; called from the worker only."""


class RuntimeView:
    """The interface operations see, the same for :class:`Runtime` and :class:`MultiDeviceRuntime`:
    ``submit``/``embed`` and what the model is (read from ``encoder``, the model the runtime runs).

    Also what the embedding cache needs of a model (:class:`sqlml.engine.cache.Fingerprinted`).
    """

    encoder: BatchModel

    def submit(self, texts: list[str]) -> Future[np.ndarray]:
        """Queue ``texts`` (no ``None``); the future gives ``float32 (len(texts), dimension)``."""
        raise NotImplementedError

    def embed(self, texts: list[str]) -> np.ndarray:
        """Blocking form of :meth:`submit`: ``float32 (len(texts), dimension)``."""
        return self.submit(texts).result()

    def serve_queries(self) -> None:
        """Run one- and two-row batches on the model's low-latency path from now on, where it has one
        (:meth:`sqlml.models.encoder.Encoder.serve_queries`: ONNX Runtime on the CPU); no-op elsewhere."""
        serve = getattr(self.encoder, "serve_queries", None)
        if serve is not None:
            serve()

    @property
    def dimension(self) -> int:
        """Width of one output row: the embedding size, or a classifier's number of labels."""
        return self.encoder.dimension

    @property
    def device(self) -> str:
        """The model's device (``'cpu'``, ``'cuda:0'``, ``'mps'``; the first one of several)."""
        return self.encoder.device

    @property
    def dtype(self) -> str:
        """The model's precision (``'float32'``, ``'float16'``, ``'bfloat16'``)."""
        return self.encoder.dtype

    @property
    def max_seq_length(self) -> int:
        """The model window in tokens, special tokens included: longer texts are truncated."""
        return self.encoder.max_seq_length

    @property
    def fingerprint(self) -> str:
        """A stable id of the model's files (cache keys and trained heads record it)."""
        return self.encoder.fingerprint

    @property
    def model_name(self) -> str:
        """The name the model was asked for: ``'default'``, an alias, a path or a hub id (a classifier's folder)."""
        return self.encoder.name

    @property
    def model_id(self) -> str:
        """A human-readable id of the model: the default model's hub id, else its location."""
        return self.encoder.display_id

    def token_lengths(self, texts: list[str]) -> np.ndarray:
        """``int64 (len(texts),)``: tokens per text, special tokens included, truncated at
        :attr:`max_seq_length`, as the model sees them. ``texts`` must not contain ``None``."""
        return tokenize(self.encoder, texts).lengths



@dataclass
class RuntimeStats:
    """Counters since the runtime started (read them with :meth:`Runtime.snapshot`)."""

    requests: int = 0
    rows: int = 0
    batches: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    oom_splits: int = 0
    failed_rounds: int = 0
    #: Rounds run (a round: the requests gathered at once, cut into batches) and the time spent, in µs:
    #: requests waiting in the queue after tokenization (summed over requests) and the worker running rounds.
    rounds: int = 0
    queue_wait_us: int = 0
    round_us: int = 0


@dataclass
class _Request:
    tokens: TokenBatch
    future: Future[np.ndarray] = field(default_factory=Future)
    queued_at: float = field(default_factory=time.monotonic)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's CUDA/MPS out-of-memory errors (typed or by message, across torch versions)."""
    import torch

    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(exc, oom_type) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc))


class Runtime(RuntimeView):
    """Batched, thread-safe embedding of texts on one encoder. Create it with :func:`get_runtime`."""

    def __init__(self, encoder: BatchModel, batch_size: int, max_batch_tokens: int) -> None:
        #: The model as loaded (for the engine and tests; operations use the interface of :class:`RuntimeView`).
        self.encoder = encoder
        # What runs the batches: an encoder's launcher (its fast paths, shared by the encoder's runtimes),
        # or the model itself (its ``forward``).
        self._runner: Any = launcher_for(encoder) if isinstance(encoder, Encoder) else encoder
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()  # None: the worker should stop
        self._closing = threading.Event()
        self._stats = RuntimeStats()
        self._stats_lock = threading.Lock()
        self._ladder_captured = False
        self._worker = threading.Thread(target=self._serve, name=f"sqlml-runtime-{encoder.device}", daemon=True)
        self._worker.start()
        # Python's finalization kills a daemon thread that is inside a forward pass with a C++ abort
        # ("terminate called without an active exception", e.g. after Ctrl-C): stop the worker before that.
        atexit.register(self.close)

    def submit(self, texts: list[str]) -> Future[np.ndarray]:
        """Queue ``texts`` for embedding; the future gives ``float32`` ``(len(texts), dimension)``.

        Tokenization runs here, in the caller's thread. ``texts`` must not contain ``None``.
        """
        if self._closing.is_set():
            raise RuntimeError("this sqlml runtime is closed (the process is exiting); start a new process to embed more texts")
        request = _Request(tokenize(self.encoder, texts))
        if not texts:
            request.future.set_result(np.empty((0, self.encoder.dimension), dtype=np.float32))
            return request.future
        self._queue.put(request)
        return request.future

    def snapshot(self) -> RuntimeStats:
        """A copy of the counters."""
        with self._stats_lock:
            return RuntimeStats(**vars(self._stats))

    def close(self) -> None:
        """Stop the worker after the batch it is running and wait for it (at most :data:`CLOSE_TIMEOUT_SECONDS`).

        Requests not finished by then fail with ``RuntimeError``; so does :meth:`submit` afterwards.
        Called at interpreter exit; calling it again does nothing.
        """
        if self._closing.is_set():
            return
        self._closing.set()
        self._queue.put(None)
        self._worker.join(CLOSE_TIMEOUT_SECONDS)

    def _serve(self) -> None:
        # On an accelerator a short wait for more callers pays: a fuller round runs in one large batch.
        gather_seconds = 0.0 if self.encoder.device == "cpu" else GATHER_SECONDS
        while True:
            first = self._queue.get()
            if first is None:
                self._fail_queued()
                return
            requests = [first]
            rows = len(first.tokens)
            deadline = time.monotonic() + gather_seconds
            while rows < self.batch_size:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # seen again, and acted on, once this round is done
                    break
                requests.append(nxt)
                rows += len(nxt.tokens)
            started = time.monotonic()
            try:
                results = self._run(requests)
            except BaseException as exc:  # noqa: BLE001 - the worker must survive anything a round raises
                self._count_round(requests, started, failed=True)
                for request in requests:
                    request.future.set_exception(exc)
                continue
            self._count_round(requests, started, failed=False)
            for request, result in zip(requests, results, strict=True):
                request.future.set_result(result)

    def _fail_queued(self) -> None:
        """Fail every request still queued once the worker stops (their callers may still wait)."""
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                return
            if request is not None:
                request.future.set_exception(RuntimeError("this sqlml runtime closed before the request ran (the process is exiting)"))

    def _count_round(self, requests: list[_Request], started: float, failed: bool) -> None:
        waited = sum(started - request.queued_at for request in requests)
        with self._stats_lock:
            self._stats.rounds += 1
            self._stats.failed_rounds += int(failed)
            self._stats.queue_wait_us += int(waited * 1e6)
            self._stats.round_us += int((time.monotonic() - started) * 1e6)

    def _run(self, requests: list[_Request]) -> list[np.ndarray]:
        tokens = TokenBatch.concat([request.tokens for request in requests])
        out = self._run_packed(tokens) if getattr(self._runner, "packs_tokens", False) else self._run_padded(tokens)
        with self._stats_lock:
            self._stats.requests += len(requests)
            self._stats.rows += len(tokens)
            self._stats.tokens += int(tokens.offsets[-1])
        bounds = np.cumsum([0, *(len(r.tokens) for r in requests)])
        return [out[bounds[i] : bounds[i + 1]] for i in range(len(requests))]

    def _run_packed(self, tokens: TokenBatch) -> np.ndarray:
        """Every row of ``tokens`` embedded in packed batches: ``float32 (rows, d)``. The first call
        captures the graphs of the usual capacities (:func:`~sqlml.engine.batching.packed_ladder`) first."""
        if not self._ladder_captured:
            self._ladder_captured = True
            self._runner.capture_packed(packed_ladder(self.max_batch_tokens))
        parts = plan_packed(tokens.offsets, self.batch_size, self.max_batch_tokens)
        return self._collect(len(tokens), ((part, self._launch_packed(tokens, part)) for part in parts))

    def _launch_packed(self, tokens: TokenBatch, part: slice, replay: bool = True) -> Pending:
        """Pack and launch rows ``part``; filled to a graph capacity when the model replays graphs. On
        out-of-memory the rows are halved (down to one), run without graphs."""
        capacity = None
        if replay and self._runner.replays_packed_graphs:
            used = int(tokens.offsets[part.stop] - tokens.offsets[part.start])
            capacity = packed_capacity(used, part.stop - part.start, self.max_batch_tokens)
        ids, cu = pack(tokens, part.start, part.stop, capacity, self.encoder.pad_id)
        try:
            pending = self._runner.launch_packed(ids, cu, replay=capacity is not None)
        except Exception as exc:
            if not is_out_of_memory(exc) or part.stop - part.start == 1:
                raise
            self._count_oom_split()
            middle = (part.start + part.stop) // 2
            halves = [self._launch_packed(tokens, half, replay=False).result()[: half.stop - half.start]
                      for half in (slice(part.start, middle), slice(middle, part.stop))]
            return Ready(np.concatenate(halves))
        with self._stats_lock:
            self._stats.batches += 1
            self._stats.padded_tokens += len(ids)
        return pending

    def _run_padded(self, tokens: TokenBatch) -> np.ndarray:
        """Every row of ``tokens`` embedded in length-sorted padded batches: ``float32 (rows, d)``."""
        lengths = tokens.lengths
        order = np.argsort(-lengths, kind="stable")
        bucketed = getattr(self._runner, "pads_to_buckets", False)  # it replays CUDA graphs: few shapes
        padded = self._runner.padded_lengths(lengths[order]) if bucketed else lengths[order]
        launched = (
            (order[part], self._launch_rows(tokens, order[part], int(padded[part.start]) if bucketed else None))
            for part in plan_batches(padded, self.batch_size, self.max_batch_tokens)
        )
        return self._collect(len(tokens), launched)

    def _collect(self, rows: int, launched: Iterator[tuple[slice | np.ndarray, Pending]]) -> np.ndarray:
        """The batches' results in one ``float32 (rows, d)`` array, each at its rows (a slice or indices);
        batch i+1 is launched before batch i is awaited. Rows past a batch's own (filler) are dropped."""
        out = np.empty((rows, self.encoder.dimension), dtype=np.float32)
        waiting: tuple[slice | np.ndarray, Pending] | None = None
        for batch in launched:
            if self._closing.is_set():
                raise RuntimeError("this sqlml runtime closed in the middle of a request (the process is exiting)")
            if waiting is not None:
                _place(out, *waiting)
            waiting = batch
        if waiting is not None:
            _place(out, *waiting)
        return out

    def _launch_rows(self, tokens: TokenBatch, rows: np.ndarray, width: int | None = None) -> Pending:
        """Pad and launch one batch. ``width``: pad to this length and to :func:`bucket_rows` rows, and
        replay the model's CUDA graph of that shape (``None``: pad to the longest row, run it plainly)."""
        shape = None
        if width is not None:
            capacity = min(self.batch_size, max(1, self.max_batch_tokens // width))
            shape = (bucket_rows(len(rows), capacity), width)
        input_ids, mask = tokens.pad(rows, self.encoder.pad_id, shape)
        launch = getattr(self._runner, "launch", None)
        try:
            if launch is None:
                pending: Pending = Ready(self._runner.forward(input_ids, mask))
            else:
                pending = launch(input_ids, mask, replay=True) if shape is not None else launch(input_ids, mask)
        except Exception as exc:
            if not is_out_of_memory(exc) or len(rows) == 1:
                raise
            self._count_oom_split()
            half = len(rows) // 2  # halves run plainly: a new graph shape would need memory of its own
            first, second = self._launch_rows(tokens, rows[:half]), self._launch_rows(tokens, rows[half:])
            return Ready(np.concatenate([first.result(), second.result()]))
        with self._stats_lock:
            self._stats.batches += 1
            self._stats.padded_tokens += int(input_ids.size)
        return pending

    def _count_oom_split(self) -> None:
        self._release_cached_memory()
        with self._stats_lock:
            self._stats.oom_splits += 1

    def _release_cached_memory(self) -> None:
        if self.encoder.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


def _place(out: np.ndarray, rows: slice | np.ndarray, pending: Pending) -> None:
    """Wait for ``pending`` and write its first rows to ``out[rows]``."""
    count = rows.stop - rows.start if isinstance(rows, slice) else len(rows)
    out[rows] = pending.result()[:count]


class MultiDeviceRuntime(RuntimeView):
    """One :class:`Runtime` (one worker) per device behind the same interface (:class:`RuntimeView`).

    Each request goes whole to the device with the fewest rows outstanding, so rows of one request stay
    together and in order; devices run in parallel.
    """

    def __init__(self, runtimes: list[Runtime]) -> None:
        self.runtimes = runtimes
        self.encoder = runtimes[0].encoder
        self._outstanding = [0] * len(runtimes)
        self._lock = threading.Lock()

    def submit(self, texts: list[str]) -> Future[np.ndarray]:
        """Queue ``texts`` on the least-loaded device; see :meth:`Runtime.submit`."""
        with self._lock:
            index = min(range(len(self.runtimes)), key=self._outstanding.__getitem__)
            self._outstanding[index] += len(texts)
        future = self.runtimes[index].submit(texts)
        future.add_done_callback(lambda _: self._finished(index, len(texts)))
        return future

    def serve_queries(self) -> None:
        """:meth:`RuntimeView.serve_queries` on every device's runtime."""
        for runtime in self.runtimes:
            runtime.serve_queries()

    def _finished(self, index: int, rows: int) -> None:
        with self._lock:
            self._outstanding[index] -= rows

    def snapshot(self) -> RuntimeStats:
        """The counters of all devices, summed."""
        total = RuntimeStats()
        for runtime in self.runtimes:
            for name, value in vars(runtime.snapshot()).items():
                setattr(total, name, getattr(total, name) + value)
        return total


AnyRuntime = Runtime | MultiDeviceRuntime

_runtimes: dict[tuple[object, ...], AnyRuntime] = {}
_runtimes_lock = threading.Lock()


def split_devices(device: str | None) -> list[str | None]:
    """``'cuda:0,cuda:1'`` → two devices; ``'cuda:all'`` → every visible GPU; anything else → one."""
    from sqlml import config
    from sqlml.errors import ConfigError

    choice = config.resolve("device", device, "auto", str)
    if choice.strip().lower() == "cuda:all":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda:all' was asked for but torch sees no CUDA GPU; use device='cpu' or 'auto'")
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [part.strip() for part in choice.split(",")] if "," in choice else [choice]


#: Rows per model batch on CPU. Small batches of length-sorted rows pad less and stay in cache: 64-row
#: batches run faster on CPU than 256-row ones (docs/performance.md).
CPU_BATCH_ROWS = 64


def batch_limits(batch_size: int | None, max_batch_tokens: int | None, device: str, *, gpu_rows: int) -> tuple[int, int]:
    """``(rows, padded tokens)`` per batch on ``device``: argument > ``SQLML_BATCH_SIZE`` /
    ``SQLML_MAX_BATCH_TOKENS`` > default (:data:`CPU_BATCH_ROWS` rows and 16,384 tokens on CPU; ``gpu_rows``
    rows and 262,144 tokens elsewhere)."""
    from sqlml import config

    on_cpu = device == "cpu"
    rows = config.resolve("batch_size", batch_size, CPU_BATCH_ROWS if on_cpu else gpu_rows, config.parse_positive_int)
    tokens = config.resolve("max_batch_tokens", max_batch_tokens, 16_384 if on_cpu else 262_144, config.parse_positive_int)
    return rows, tokens


def runtime_for(settings: Settings, model: str | None = None) -> AnyRuntime:
    """The runtime of ``model`` (``None`` → ``settings.model``) with ``settings``' device, dtype and batch sizes."""
    return get_runtime(model or settings.model, settings.device, settings.dtype, settings.batch_size, settings.max_batch_tokens)


@contextmanager
def private_runtime(encoder: Encoder, settings: Settings) -> Iterator[Runtime]:
    """A runtime of its own for ``encoder`` (a model being trained, not in the registry), closed on leaving.

    Batch limits follow ``settings`` as :func:`get_runtime`'s do; nothing else shares it.
    """
    rows, tokens = batch_limits(settings.batch_size, settings.max_batch_tokens, encoder.device, gpu_rows=16_384)
    runtime = Runtime(encoder, rows, tokens)
    try:
        yield runtime
    finally:
        runtime.close()


def get_runtime(
    model: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    max_batch_tokens: int | None = None,
) -> AnyRuntime:
    """The process-wide runtime for this model/device(s)/dtype and batch limits (created on first use).

    ``device`` may list several devices (``'cuda:0,cuda:1'``, ``'cuda:all'``): one worker per device.
    Defaults: ``batch_size`` (rows) :data:`CPU_BATCH_ROWS` on CPU and 16,384 on GPU; ``max_batch_tokens`` 16,384 on CPU and
    262,144 on GPU; each overridable by argument or ``SQLML_BATCH_SIZE`` / ``SQLML_MAX_BATCH_TOKENS``.
    """
    from sqlml.models.registry import load_encoder

    devices = split_devices(device)
    encoders = [load_encoder(model, d, dtype) for d in devices]
    rows, tokens = batch_limits(batch_size, max_batch_tokens, encoders[0].device, gpu_rows=16_384)
    key = (tuple(id(e) for e in encoders), rows, tokens)
    with _runtimes_lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            singles = [Runtime(e, rows, tokens) for e in encoders]
            runtime = _runtimes[key] = singles[0] if len(singles) == 1 else MultiDeviceRuntime(singles)
        return runtime


def all_runtimes() -> list[AnyRuntime]:
    """Every runtime started in this process."""
    with _runtimes_lock:
        return list(_runtimes.values())
