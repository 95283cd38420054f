"""vlmtune from Python: a thin layer over libvlmtune's C API (include/vlmtune.h), through ctypes.

    import vlmtune
    result = vlmtune.train("run.yaml", model="Qwen3-VL-4B", out="runs/a", on_progress=print)
    with vlmtune.Model("Qwen3-VL-4B", adapter="runs/a") as m:
        answer = m.generate("Critique this photo.", images=["photo.jpg"], on_text=print)
        figures = m.eval("data/valid.jsonl", generate=True)

Everything is the C library's: the settings and their defaults (those of `vlmtune train --help`), the
training loop, generation, evaluation and every error message; this module only converts Python values
to C ones and back.  A failed call raises VlmtuneError with the library's message.  Exceptions raised by
a callback stop the call and are re-raised from it.
"""
import ctypes
import dataclasses
import os
import queue
import threading

from . import _lib
from ._lib import VlmtuneError

__all__ = ["VlmtuneError", "Cancel", "Model", "Progress", "TrainResult", "EvalRow", "EvalResult", "train",
           "MemoryEstimate", "estimate_memory",
           "version"]


def version():
    """The library's version string ("vlmtune X.Y.Z")."""
    return _lib.lib.vlmtune_version().decode()


def _fields(struct, cls):
    return cls(**{f.name: getattr(struct, f.name) for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class Progress:
    """One optimizer step (vlmtune_progress)."""
    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: float
    grad_norm: float
    tokens_per_second: float
    trained_tokens: float
    peak_memory_gb: float
    ms_per_step: float
    reported: bool
    skipped: bool


@dataclasses.dataclass(frozen=True)
class TrainResult:
    steps_done: int
    last_loss: float
    best_valid_loss: float   # NaN without validation
    best_step: int           # -1 without validation
    interrupted: bool        # cancelled, with a checkpoint written


@dataclasses.dataclass(frozen=True)
class EvalRow:
    index: int
    line: int
    loss: float
    tokens: int
    generated: str | None
    reference: str | None
    exact: bool
    f1: float


@dataclasses.dataclass(frozen=True)
class EvalResult:
    rows: int
    tokens: int
    loss: float
    perplexity: float
    exact_match: float
    f1: float


def _eval_row(r):
    text = (lambda s: None if s is None else s.decode())
    return EvalRow(r.index, r.line, r.loss, r.tokens, text(r.generated), text(r.reference), bool(r.exact), r.f1)


def _progress(p):
    return dataclasses.replace(_fields(p, Progress), reported=bool(p.reported), skipped=bool(p.skipped))


class Cancel:
    """A cancellation flag for train() (vlmtune_cancel): cancel() from any thread stops the run after its
    current step, with a checkpoint written."""

    def __init__(self):
        self._c = _lib.lib.vlmtune_cancel_new()
        if not self._c:
            raise MemoryError("vlmtune_cancel_new")

    def cancel(self):
        _lib.lib.vlmtune_cancel_request(self._c)

    @property
    def requested(self):
        return bool(_lib.lib.vlmtune_cancel_requested(self._c))

    def reset(self):
        _lib.lib.vlmtune_cancel_reset(self._c)

    def __del__(self):
        if getattr(self, "_c", None):
            _lib.lib.vlmtune_cancel_free(self._c)
            self._c = None


class _Relay:
    """Runs a Python callback under C; the first exception it raises is kept and re-raised after the call."""

    def __init__(self):
        self.error = None

    def call(self, fn, *args):
        if self.error is not None:
            return False
        try:
            fn(*args)
            return True
        except BaseException as e:  # noqa: BLE001 — re-raised by reraise()
            self.error = e
            return False

    def reraise(self):
        if self.error is not None:
            raise self.error


def _flag(value):
    return "true" if value is True else "false" if value is False else os.fsdecode(value) \
        if isinstance(value, os.PathLike) else str(value)


def _argv(overrides):
    """argv for vlmtune_train and vlmtune_estimate_memory: --flag value for each override that is not None."""
    argv = [b"vlmtune"]
    for key, value in overrides.items():
        if value is not None:
            argv += [b"--" + key.replace("_", "-").encode(), _flag(value).encode()]
    return argv


def train(config=None, *, on_progress=None, on_validation=None, cancel=None, **overrides):
    """Trains as `vlmtune train` does (vlmtune_train).

    config: a YAML configuration file or None.  overrides: the flags of `vlmtune train --help`, with
    underscores for dashes (model="DIR", data="F", out="RUN", iters=100, train_vision=True, resume="RUN").
    on_progress(Progress) is called after every optimizer step, on_validation(step, loss, best) after each
    validation; cancel: a Cancel that another thread may set.  Returns a TrainResult."""
    argv = _argv(overrides)
    relay = _Relay()
    own_cancel = Cancel()  # stops the run when a callback raised
    flag = cancel if cancel is not None else own_cancel

    def progress(_ctx, p):
        if on_progress and not relay.call(on_progress, _progress(p.contents)):
            flag.cancel()

    def validation(_ctx, step, loss, best):
        if on_validation and not relay.call(on_validation, step, loss, bool(best)):
            flag.cancel()

    cb = _lib.TrainCallbacks(None, _lib.PROGRESS_FN(progress), _lib.VALIDATION_FN(validation), flag._c)
    c_argv = (ctypes.c_char_p * len(argv))(*argv)
    result = _lib.TrainResult()
    rc = _lib.lib.vlmtune_train(_lib.encode(config), len(argv), c_argv, ctypes.byref(cb), ctypes.byref(result))
    relay.reraise()
    _lib.check(rc)
    return dataclasses.replace(_fields(result, TrainResult), interrupted=bool(result.interrupted))


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    setup_bytes: float       # model, adapters and optimizer, held from the start
    peak_bytes: float        # the estimated peak of a step
    available_bytes: float   # what the run may use (memory_limit_gb, else the device's)
    total_steps: int
    train_rows: int
    trainable_params: int


def estimate_memory(config=None, **overrides):
    """The memory a training run with these settings would need (vlmtune_estimate_memory): loads the model
    and data as train(...) would, trains nothing, writes nothing.  Same arguments as train()."""
    argv = _argv(overrides)
    c_argv = (ctypes.c_char_p * len(argv))(*argv)
    out = _lib.MemoryEstimate()
    _lib.check(_lib.lib.vlmtune_estimate_memory(_lib.encode(config), len(argv), c_argv, ctypes.byref(out)))
    return MemoryEstimate(*(getattr(out, f) for f, _ in out._fields_))


class Model:
    """A loaded model, with an adapter applied when given (vlmtune_load).  Use from one thread at a time."""

    def __init__(self, model_dir, adapter=None):
        self._m = ctypes.c_void_p()
        _lib.check(_lib.lib.vlmtune_load(ctypes.byref(self._m), _lib.encode(model_dir), _lib.encode(adapter)))

    def close(self):
        if getattr(self, "_m", None):
            _lib.lib.vlmtune_free(self._m)
            self._m = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def image_pixels(self):
        """(min, max) resized image area in pixels: the model's, or the run's when the adapter brings them."""
        lo, hi = ctypes.c_long(), ctypes.c_long()
        _lib.lib.vlmtune_image_pixels(self._m, ctypes.byref(lo), ctypes.byref(hi))
        return lo.value, hi.value

    def set_image_pixels(self, min_pixels=0, max_pixels=0):
        """Overrides the image area bounds (0 keeps the current value)."""
        _lib.check(_lib.lib.vlmtune_set_image_pixels(self._m, min_pixels, max_pixels))

    @property
    def generation_defaults(self):
        """The model's generation settings (generation_config.json), as generate() uses them."""
        d = _lib.lib.vlmtune_generate_defaults(self._m)
        return {name: getattr(d, name) for name, _ in _lib.GenerateOptions._fields_}

    def tokenize(self, text):
        """Token ids of plain text (no chat template)."""
        ids, n = ctypes.POINTER(ctypes.c_int32)(), ctypes.c_size_t()
        _lib.check(_lib.lib.vlmtune_tokenize(self._m, text.encode(), ctypes.byref(ids), ctypes.byref(n)))
        try:
            return ids[:n.value]
        finally:
            _lib.free(ids)

    def generate(self, prompt, images=(), *, system=None, on_text=None, **options):
        """Answers `prompt` after the images (paths), as `vlmtune generate` does; returns the whole answer.

        on_text(piece) receives the answer as it is produced (whole UTF-8 characters).  options override
        generation_defaults: max_tokens, temperature, top_p, top_k, repetition_penalty, seed."""
        o = _lib.lib.vlmtune_generate_defaults(self._m)
        for name, value in options.items():
            if name not in dict(_lib.GenerateOptions._fields_):
                raise TypeError(f"generate: unknown option {name!r}")
            setattr(o, name, value)
        relay = _Relay()

        def text(_ctx, piece, n):
            return 0 if on_text is None or relay.call(on_text, ctypes.string_at(piece, n).decode()) else 1

        paths = [_lib.encode(p) for p in images]
        c_images = (ctypes.c_char_p * max(len(paths), 1))(*paths)
        answer = ctypes.c_void_p()
        rc = _lib.lib.vlmtune_generate(self._m, _lib.encode(system), c_images, len(paths), prompt.encode(),
                                       ctypes.byref(o), _lib.TEXT_FN(text), None, ctypes.byref(answer))
        relay.reraise()
        _lib.check(rc)
        try:
            return ctypes.string_at(answer.value).decode()
        finally:
            _lib.free(answer)

    def last_generation(self):
        """The last generate()'s sizes and times: prompt_tokens (images included), prompt_seconds (until the
        first new token), generated_tokens, generate_seconds."""
        st = _lib.lib.vlmtune_last_generation(self._m)
        return {name: getattr(st, name) for name, _ in _lib.GenerationStats._fields_}

    def stream(self, prompt, images=(), **kwargs):
        """generate() as an iterator of text pieces.  The generation runs on a worker thread (the model is
        used by that thread alone until the iterator ends); leaving the loop early stops it."""
        pieces, stop, done = queue.Queue(), threading.Event(), object()

        def on_text(piece):
            if stop.is_set():
                raise GeneratorExit
            pieces.put(piece)

        def work():
            try:
                self.generate(prompt, images, on_text=on_text, **kwargs)
                pieces.put(done)
            except GeneratorExit:
                pieces.put(done)
            except BaseException as e:  # noqa: BLE001 — handed to the consumer
                pieces.put(e)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        try:
            while (item := pieces.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            worker.join()

    def eval(self, data, *, generate=False, max_tokens=0, on_row=None):
        """Evaluates a dataset file as `vlmtune eval` does; on_row(EvalRow) sees each row.  Returns an
        EvalResult (loss and perplexity; exact_match and f1 with generate)."""
        relay = _Relay()

        def row(_ctx, r):
            return 0 if relay.call(on_row, _eval_row(r.contents)) else 1

        result = _lib.EvalResult()
        o = _lib.EvalOptions(int(bool(generate)), max_tokens)
        rc = _lib.lib.vlmtune_eval(self._m, _lib.encode(data), ctypes.byref(o),
                                   _lib.ROW_FN(row) if on_row else _lib.ROW_FN(), None, ctypes.byref(result))
        relay.reraise()
        _lib.check(rc)
        return _fields(result, EvalResult)
