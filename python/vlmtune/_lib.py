"""libvlmtune through ctypes: where the library is, and the C declarations of include/vlmtune.h.

Nothing here computes anything: the structures mirror the header field by field (keep them in step with it),
and every function is the C one.
"""
import ctypes
import os
import sys
from pathlib import Path

_NAME = "libvlmtune.dylib" if sys.platform == "darwin" else "libvlmtune.so"


class VlmtuneError(RuntimeError):
    """A failed libvlmtune call; the message is the library's (vlmtune_last_error)."""


def _library_path():
    """VLMTUNE_LIBRARY when set (a build tree, a `make install` prefix), else the wheel's copy beside us."""
    env = os.environ.get("VLMTUNE_LIBRARY")
    return Path(env) if env else Path(__file__).resolve().parent / "lib" / _NAME


def _load():
    path = _library_path()
    if not path.is_file():
        raise VlmtuneError(f"{path}: libvlmtune is not there (set VLMTUNE_LIBRARY to the library's path)")
    try:
        return ctypes.CDLL(str(path))
    except OSError as e:
        hint = ""
        if "libmlx" in str(e):
            hint = (" (libmlx comes from the mlx package: on Linux install its backend too, "
                    "pip install 'vlmtune[cpu]' or 'vlmtune[cuda13]')")
        raise VlmtuneError(f"{path}: {e}{hint}") from None


class GenerateOptions(ctypes.Structure):
    _fields_ = [("max_tokens", ctypes.c_int), ("temperature", ctypes.c_double), ("top_p", ctypes.c_double),
                ("top_k", ctypes.c_int), ("repetition_penalty", ctypes.c_double), ("seed", ctypes.c_uint64)]


class GenerationStats(ctypes.Structure):
    _fields_ = [("prompt_tokens", ctypes.c_size_t), ("generated_tokens", ctypes.c_size_t),
                ("prompt_seconds", ctypes.c_double), ("generate_seconds", ctypes.c_double)]


class EvalOptions(ctypes.Structure):
    _fields_ = [("generate", ctypes.c_int), ("max_tokens", ctypes.c_int)]


class EvalRow(ctypes.Structure):
    _fields_ = [("index", ctypes.c_size_t), ("line", ctypes.c_size_t), ("loss", ctypes.c_double),
                ("tokens", ctypes.c_size_t), ("generated", ctypes.c_char_p), ("reference", ctypes.c_char_p),
                ("exact", ctypes.c_int), ("f1", ctypes.c_double)]


class EvalResult(ctypes.Structure):
    _fields_ = [("rows", ctypes.c_size_t), ("tokens", ctypes.c_size_t), ("loss", ctypes.c_double),
                ("perplexity", ctypes.c_double), ("exact_match", ctypes.c_double), ("f1", ctypes.c_double)]


class Progress(ctypes.Structure):
    _fields_ = [("step", ctypes.c_long), ("total_steps", ctypes.c_long), ("epoch", ctypes.c_double),
                ("loss", ctypes.c_double), ("learning_rate", ctypes.c_double), ("grad_norm", ctypes.c_double),
                ("tokens_per_second", ctypes.c_double), ("trained_tokens", ctypes.c_double),
                ("peak_memory_gb", ctypes.c_double), ("ms_per_step", ctypes.c_double),
                ("reported", ctypes.c_int), ("skipped", ctypes.c_int)]


TEXT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t)
ROW_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(EvalRow))
PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(Progress))
VALIDATION_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_long, ctypes.c_double, ctypes.c_int)


class TrainCallbacks(ctypes.Structure):
    _fields_ = [("ctx", ctypes.c_void_p), ("on_progress", PROGRESS_FN), ("on_validation", VALIDATION_FN),
                ("cancel", ctypes.c_void_p)]


class TrainResult(ctypes.Structure):
    _fields_ = [("steps_done", ctypes.c_long), ("last_loss", ctypes.c_double),
                ("best_valid_loss", ctypes.c_double), ("best_step", ctypes.c_long), ("interrupted", ctypes.c_int)]


class MemoryEstimate(ctypes.Structure):
    _fields_ = [("setup_bytes", ctypes.c_double), ("peak_bytes", ctypes.c_double),
                ("available_bytes", ctypes.c_double), ("total_steps", ctypes.c_long),
                ("train_rows", ctypes.c_size_t), ("trainable_params", ctypes.c_size_t)]


def _declare(lib):
    P, I, S, D = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_double
    L, Z = ctypes.c_long, ctypes.c_size_t
    sigs = {
        "vlmtune_version": (S, []),
        "vlmtune_last_error": (S, []),
        "vlmtune_load": (I, [ctypes.POINTER(P), S, S]),
        "vlmtune_free": (None, [P]),
        "vlmtune_image_pixels": (None, [P, ctypes.POINTER(L), ctypes.POINTER(L)]),
        "vlmtune_set_image_pixels": (I, [P, L, L]),
        "vlmtune_tokenize": (I, [P, S, ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)), ctypes.POINTER(Z)]),
        "vlmtune_generate_defaults": (GenerateOptions, [P]),
        "vlmtune_generate": (I, [P, S, ctypes.POINTER(S), Z, S, ctypes.POINTER(GenerateOptions), TEXT_FN, P,
                                 ctypes.POINTER(ctypes.c_void_p)]),
        "vlmtune_last_generation": (GenerationStats, [P]),
        "vlmtune_eval": (I, [P, S, ctypes.POINTER(EvalOptions), ROW_FN, P, ctypes.POINTER(EvalResult)]),
        "vlmtune_cancel_new": (P, []),
        "vlmtune_cancel_request": (None, [P]),
        "vlmtune_cancel_requested": (I, [P]),
        "vlmtune_cancel_reset": (None, [P]),
        "vlmtune_cancel_free": (None, [P]),
        "vlmtune_train": (I, [S, I, ctypes.POINTER(S), ctypes.POINTER(TrainCallbacks), ctypes.POINTER(TrainResult)]),
        "vlmtune_estimate_memory": (I, [S, I, ctypes.POINTER(S), ctypes.POINTER(MemoryEstimate)]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


lib = _declare(_load())
# The C library's strings and arrays are malloc'd, freed by the caller with the C runtime's free().
_libc = ctypes.CDLL(None)
_libc.free.argtypes, _libc.free.restype = [ctypes.c_void_p], None
free = _libc.free


def check(rc):
    """Raises the library's last error when a call failed (rc != 0)."""
    if rc != 0:
        raise VlmtuneError(lib.vlmtune_last_error().decode("utf-8", "replace"))


def encode(s):
    return None if s is None else os.fsencode(s) if isinstance(s, os.PathLike) else str(s).encode()
