"""The `vlmtune` command of the wheel: pip puts this launcher on PATH; it replaces itself (os.execv) with the
compiled command installed beside the package (vlmtune/bin/vlmtune), so the running program is the C one
alone, with its own exit status and signal handling.  From a source build the command is the binary itself."""
import importlib.util
import os
import sys
from pathlib import Path


def _mlx_library_missing():
    """On Linux libmlx.so comes from the mlx backend package (mlx[cpu] or mlx[cuda13]), not from mlx."""
    spec = importlib.util.find_spec("mlx")
    if spec is None or not spec.submodule_search_locations:
        return True
    lib = Path(list(spec.submodule_search_locations)[0]) / "lib"
    return not any(lib.glob("libmlx.*"))


def main():
    exe = Path(__file__).resolve().parent / "bin" / "vlmtune"
    if not exe.is_file():
        sys.exit(f"vlmtune: {exe} is missing (a broken install? pip install --force-reinstall vlmtune)")
    if sys.platform.startswith("linux") and _mlx_library_missing():
        sys.exit("vlmtune: MLX's library is not installed: pip install 'vlmtune[cpu]' (or 'vlmtune[cuda13]')")
    os.execv(exe, ["vlmtune", *sys.argv[1:]])
