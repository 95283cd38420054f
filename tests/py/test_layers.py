"""The layout's rules, checked on the source (docs/ARCHITECTURE.md states them for people):

- each folder of src/ includes headers only from the folders below it (the table here is the one in
  docs/ARCHITECTURE.md, "Layers");
- no two source files include each other's headers in a loop;
- only include/ is public: CMake exports no other include directory.
"""
import os
import re
from pathlib import Path

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SRC = ROOT / "src"

# folder -> the folders it may include (besides itself); the order of the list is the order of the layers
MAY_INCLUDE = {
    "util": [],
    "mlx": ["util"],
    "io": ["util", "mlx"],
    "text": ["util", "io"],
    "vision": ["util", "io"],
    "model": ["util", "mlx", "io"],
    "data": ["util", "mlx", "io", "text", "vision"],
    "lora": ["util", "mlx", "io", "model"],
    "generate": ["util", "mlx", "io", "text", "vision", "model", "data"],
    "session": ["util", "mlx", "io", "text", "vision", "model", "data", "lora", "generate"],
    "eval": ["util", "mlx", "io", "text", "vision", "model", "data", "lora", "generate", "session"],
    "train": ["util", "mlx", "io", "text", "vision", "model", "data", "lora", "generate", "session", "eval"],
    "api": ["util", "mlx", "io", "text", "vision", "model", "data", "lora", "generate", "session", "eval", "train"],
    "cli": ["util", "mlx", "io", "text", "vision", "model", "data", "lora", "generate", "session", "eval", "train"],
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources():
    return sorted(p for p in SRC.rglob("*") if p.suffix in (".c", ".h", ".cpp", ".hpp"))


def includes(path):
    return INCLUDE.findall(path.read_text(errors="replace"))


def test_every_folder_has_a_rule():
    folders = {p.relative_to(SRC).parts[0] for p in sources()}
    assert folders == set(MAY_INCLUDE), folders ^ set(MAY_INCLUDE)


def test_folders_include_only_the_layers_below():
    bad = []
    for p in sources():
        folder = p.relative_to(SRC).parts[0]
        for inc in includes(p):
            target = inc.split("/")[0] if "/" in inc else None
            if inc == "vlmtune.h":
                if folder != "api":
                    bad.append(f"{p.relative_to(ROOT)} includes the public header")
                continue
            if target is None:  # a sibling written without its folder (internal.hpp in src/mlx)
                assert (p.parent / inc).exists(), f"{p}: {inc}"
                continue
            if target != folder and target not in MAY_INCLUDE[folder]:
                bad.append(f"{p.relative_to(ROOT)} includes {inc}")
    assert not bad, "\n".join(bad)


def test_no_include_loops_between_files():
    """A file's code (its .c) may use another file's header only if that file's code does not, directly or
    through others, use the first file's header: calls go one way (lora/lora.c and lora/peft.c calling each
    other was such a loop)."""
    edges = {}
    for p in sources():
        if p.suffix not in (".c", ".cpp"):
            continue
        me = str(p.relative_to(SRC).with_suffix(""))
        for inc in includes(p):
            target = str(Path(inc).with_suffix(""))
            implemented = any((SRC / (target + ext)).exists() for ext in (".c", ".cpp"))
            if target != me and implemented:
                edges.setdefault(me, set()).add(target)
    state, loops = {}, []

    def visit(n, path):
        state[n] = 1
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                loops.append(" -> ".join(path[path.index(m):] + [m]))
            elif m not in state:
                visit(m, path + [m])
        state[n] = 2
    for n in sorted(edges):
        if n not in state:
            visit(n, [n])
    assert not loops, "\n".join(loops)


def test_only_include_is_public():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for m in re.finditer(r"target_include_directories\((\w+)([^)]*)\)", cmake):
        target, args = m.group(1), m.group(2)
        public = re.findall(r"PUBLIC\s+((?:[^\s)]+\s*)+?)(?=PRIVATE|INTERFACE|$)", args)
        for group in public:
            dirs = group.split()
            assert all("include" in d for d in dirs), f"{target} exports {dirs}"
