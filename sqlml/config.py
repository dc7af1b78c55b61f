"""Settings: explicit argument > ``SQLML_*`` environment variable > built-in default.

:data:`SETTINGS` lists every setting once (its meaning, default and the module that applies it);
``docs/configuration.md``'s table is generated from it (:func:`settings_table`) and a test keeps the two
equal. :class:`Settings` carries the per-call ones (model, device, dtype, batch size, token budget,
cache, progress) from a front door down to the runtime.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlml.errors import ConfigError, InvalidArgumentError

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Setting:
    """One setting: ``name`` (the environment variable is ``SQLML_<NAME>``), what it does, its default, where it applies."""

    name: str
    meaning: str
    default: str
    applied_in: str

    @property
    def env(self) -> str:
        return env_name(self.name)


#: Every setting, in the order of the configuration table.
SETTINGS: tuple[Setting, ...] = (
    Setting('model',
            'the model used when a call names none (`default`, a registered name, a local directory, a cached hub id)',
            '`default`: the embedded all-MiniLM-L6-v2 (384-d)',
            '`sqlml/config.py`'),
    Setting('device',
            '`auto`, `cpu`, `cuda`, `cuda:N`, `cuda:0,cuda:1`, `cuda:all`, `mps`',
            '`auto`: CUDA → MPS → CPU',
            '`sqlml/models/device.py`'),
    Setting('dtype',
            '`float32`, `float16`, `bfloat16`',
            '`float16` on CUDA, `float32` elsewhere',
            '`sqlml/models/device.py`'),
    Setting('batch_size',
            'rows per model batch (≥ 1), an upper bound: the token budget usually decides',
            '64 on CPU, 16,384 on GPU',
            '`sqlml/engine/runtime.py`'),
    Setting('max_batch_tokens',
            'padded tokens per model batch (≥ 1); the memory knob',
            '16,384 on CPU, 262,144 on GPU',
            '`sqlml/engine/runtime.py`'),
    Setting('show_progress',
            'progress bars on stderr (`1/0`, `true/false`, `yes/no`, `on/off`)',
            'on in the CLI, off in the library',
            '`sqlml/progress.py`'),
    Setting('home',
            "sqlml's data folder: trained heads (`heads/`), named indexes (`indexes/`), the embedding cache (`cache/`) and ONNX graphs of models whose queries run through ONNX Runtime (`onnx/`, ~90 MB for the default model)",
            'the per-user data directory (`platformdirs`, e.g. `~/.local/share/sqlml`)',
            '`sqlml/config.py`'),
    Setting('local_files_only',
            '`0` allows downloading models from the Hugging Face hub',
            '`1`: never reach the network',
            '`sqlml/config.py`'),
    Setting('cache',
            'the persistent embedding cache (`1`/`0`); a cache that cannot be opened or written is turned off for the process with one warning (counted as cache `errors` in `sqlml_stats()`), never failing a row',
            'on for CPU and MPS models, off for CUDA ones',
            '`sqlml/engine/cache.py`'),
    Setting('cache_max_mb',
            'size bound of the embedding cache on disk (database, `-wal` and `-shm` files together, after every write); the oldest entries go first',
            '2048',
            '`sqlml/engine/cache.py`'),
    Setting('fast_tokenizer',
            "the blingfire fast path for BERT-uncased models on plain-ASCII text (`1`/`0`); it gives the same token ids as the model's tokenizer (checked on its whole vocabulary when a model loads; tested against it on varied text), ~5× faster per text",
            'on',
            '`sqlml/models/tokenizer.py`'),
    Setting('onnx_queries',
            "index searches on the CPU embed their queries (batches of one or two rows) through ONNX Runtime: the model's float32 graph, exported once per model to `$SQLML_HOME/onnx/` (in a child process, seconds) and checked against torch (within 1e-5) each time a process loads it; about half torch's time per short query on a small CPU (docs/relevance.md); `0` keeps torch. Models that do not export, or disagree, keep torch",
            'on',
            '`sqlml/models/onnx_forward.py`'),
    Setting('cuda_graphs',
            "replay the model's forward pass as CUDA graphs, one per batch shape (BERT encoders on CUDA; `1`/`0`); padded batches are padded to a few lengths (16, 24, 32, 48, 64, 96, 128, …) and row counts, packed ones filled to a few token capacities, so few graphs serve a whole job. `summarize`'s k-means on CUDA runs as graphs too (k-means++ start and blocks of 8 Lloyd steps per padded shape); it reads the setting per call, the model's forward pass when its first runtime starts. A capture that fails turns graphs off for that model (or that device's k-means) with a warning",
            'on',
            '`sqlml/engine/cuda/launcher.py`, `sqlml/engine/cuda/kmeans_graphs.py`'),
    Setting('packed',
            "run BERT sentence encoders (mean or CLS pooling) on packed tokens: each batch's rows laid end to end, no padding, attention per sentence (flash attention's variable-length kernel). `auto`: on CUDA in float16/bfloat16 with torch ≥ 2.10; `on`: also elsewhere (attention padded per batch; for tests and comparisons); `off`: the padded path",
            'auto',
            '`sqlml/engine/cuda/packed.py`'),
    Setting('summarize_piece',
            'texts per piece of a `summarize` / `summarize_explain` call: a call (up to 2,048 texts from DuckDB, 2,048 per chunk in the Python API and CLI) is cut into pieces of this many that run on a shared pool of one thread per core, so the cores stay busy while the last calls of a query finish, and a file with one row group (one DuckDB thread) still uses several cores; `0` runs a call as one piece in the calling thread. Same summaries either way',
            '512',
            '`sqlml/ops/summarize/pipeline.py`'),
    Setting('debug',
            'the CLI shows the Python traceback of an unexpected error instead of its one `Error:` line (`1`/`0`)',
            'off',
            '`sqlml/cli/failures.py`'),
    Setting('allow_paths',
            "folders every path a user names must lie in, symbolic links resolved: model and classifier directories, output files and folders (`:`-separated; `;` on Windows); `none`: no path at all, only `default`, registered names, trained classifiers and cached hub ids. Inside SQL, DuckDB's `enable_external_access = false` also applies (paths only under its `allowed_directories` / `allowed_paths`)",
            'unset: any path',
            '`sqlml/paths.py`'),
)


def settings_table() -> str:
    """The Markdown table of :data:`SETTINGS` that ``docs/configuration.md`` shows."""
    lines = ["| variable | setting | default | where it is read |", "|---|---|---|---|"]
    lines += [f"| `{s.env}` | {s.meaning} | {s.default} | {s.applied_in} |" for s in SETTINGS]
    return "\n".join(lines)


def env_name(setting: str) -> str:
    """The environment variable that holds ``setting``: ``'batch_size'`` → ``'SQLML_BATCH_SIZE'``."""
    return "SQLML_" + setting.upper()


def resolve(setting: str, explicit: T | None, default: T, parse: Callable[[str], T]) -> T:
    """Return ``explicit`` if given, else the parsed environment variable, else ``default``.

    Raises :class:`ConfigError` naming the variable when its value does not parse.
    """
    if explicit is not None:
        return explicit
    raw = os.environ.get(env_name(setting))
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw.strip())
    except ValueError as exc:
        raise ConfigError(f"{env_name(setting)}={raw!r} is not valid: {exc}; unset it or fix the value") from exc


def parse_bool(raw: str) -> bool:
    """Parse ``1/true/yes/on`` and ``0/false/no/off`` (any case)."""
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def parse_auto_bool(raw: str) -> bool | None:
    """Parse ``auto`` (→ ``None``: let sqlml decide) or a :func:`parse_bool` value."""
    return None if raw.lower() == "auto" else parse_bool(raw)


def parse_non_negative_int(raw: str) -> int:
    """Parse a whole number ≥ 0."""
    value = int(raw)
    if value < 0:
        raise ValueError("expected a whole number >= 0")
    return value


def parse_positive_int(raw: str) -> int:
    """Parse a whole number ≥ 1."""
    value = int(raw)
    if value < 1:
        raise ValueError("expected a whole number >= 1")
    return value


#: The largest whole-number argument: counts travel as int64 through Arrow, DuckDB and numpy.
MAX_COUNT = 2**63 - 1


def check_count(value: Any, what: str, fix: str = "", *, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """``value`` as an ``int`` when it is a whole number (``int`` or numpy integer, never ``bool``) in ``[minimum, maximum]``.

    Every whole-number argument (``n``, ``k``, ``batch_size``, ``seed``, ...) is checked here. Otherwise raises
    :class:`InvalidArgumentError` ``"{what}, got {value!r}[, above the largest allowed ({maximum})][; {fix}]"``.
    """
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if whole and minimum <= value <= maximum:
        return int(value)
    above = f", above the largest allowed ({maximum})" if whole and value > maximum else ""
    raise InvalidArgumentError(f"{what}, got {value!r}{above}" + (f"; {fix}" if fix else ""))


def check_model_argument(value: Any, argument: str, function: str) -> str | None:
    """A model argument as the name the registry reads: ``str`` and ``None`` as given, ``os.PathLike`` as its path.

    Raises :class:`InvalidArgumentError` naming the type of anything else (a number, bytes, a list).
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is None or isinstance(value, str):
        return value
    raise InvalidArgumentError(
        f"{function}: {argument} must be a name or a path (str or os.PathLike), not {type(value).__name__} {value!r}; "
        "pass the model's name or folder as a string"
    )


@dataclass(frozen=True)
class Settings:
    """Where and how models run for one connection, command or call: what the caller chose.

    ``model`` is resolved at once (argument > ``SQLML_MODEL`` > ``'default'``): it names the runtime. Every
    other field holds the explicit argument, or ``None``; its ``SQLML_*`` variable and default are read
    where the setting is applied (:data:`SETTINGS` names the module), because defaults depend on the
    device and a variable that does not parse must fail only the calls that use it.
    """

    model: str = "default"
    device: str | None = None
    dtype: str | None = None
    batch_size: int | None = None
    max_batch_tokens: int | None = None
    cache: bool | None = None
    show_progress: bool | None = None

    @classmethod
    def resolve(
        cls,
        *,
        model: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int | None = None,
        max_batch_tokens: int | None = None,
        cache: bool | None = None,
        show_progress: bool | None = None,
    ) -> Settings:
        """Settings from explicit arguments (``None`` = not given); raises :class:`ConfigError` for a bad ``SQLML_MODEL``
        and :class:`InvalidArgumentError` for a ``batch_size`` or ``max_batch_tokens`` that is not a whole number >= 1."""
        if batch_size is not None:
            batch_size = check_count(batch_size, "batch_size must be a whole number of rows >= 1",
                                     f"leave it unset to use {env_name('batch_size')} or the default")
        if max_batch_tokens is not None:
            max_batch_tokens = check_count(max_batch_tokens, "max_batch_tokens must be a whole number of tokens >= 1",
                                           f"leave it unset to use {env_name('max_batch_tokens')} or the default")
        return cls(default_model(model), device, dtype, batch_size, max_batch_tokens, cache, show_progress)


def home_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The folder where sqlml keeps trained heads and caches (created on first use by its writers)."""
    chosen = resolve("home", None if explicit is None else str(explicit), None, str)
    if chosen is None:  # platformdirs only when needed: every index search resolves the home (~0.1 ms a call)
        from platformdirs import user_data_dir

        chosen = user_data_dir("sqlml")
    return Path(chosen).expanduser()


def default_model(explicit: str | None = None) -> str:
    """The model name used when a call names none."""
    return resolve("model", explicit, "default", str)


def local_files_only(explicit: bool | None = None) -> bool:
    """Whether model loading must stay off the network (default: yes, safe for offline machines)."""
    return resolve("local_files_only", explicit, True, parse_bool)
