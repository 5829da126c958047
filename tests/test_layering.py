"""runtime/ must load without the compile side (passes, lowering, capture, build, verify, api)."""
import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "xslim_compile"
COMPILE_SIDE = {"passes", "lowering", "capture", "build", "verify", "api"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    package = ["xslim_compile"] + list(path.relative_to(PACKAGE).parent.parts)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_runtime_sources_import_nothing_compile_side():
    for path in (PACKAGE / "runtime").rglob("*.py"):
        for module in _imported_modules(path):
            parts = module.split(".")
            assert not (parts[0] == "xslim_compile" and len(parts) > 1 and parts[1] in COMPILE_SIDE), \
                f"{path.name} imports {module}"


def test_importing_the_runtime_loads_no_compile_side_module():
    code = ("import sys, xslim_compile.runtime.module as m; "
            "print(sorted(k for k in sys.modules if k.startswith('xslim_compile')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout
    loaded = {name.split(".")[1] for name in eval(out) if "." in name}
    assert "runtime" in loaded
    assert not loaded & COMPILE_SIDE, loaded
