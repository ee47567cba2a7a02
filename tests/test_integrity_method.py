"""A method's identity covers all its files: a method is one file `methods/<name>.py` or one
folder `methods/<name>/`; its code hash covers every file of that folder (data files too) and
the method modules it imports (absolutely or relatively), a binary file in it needs a declared
reason, and its sealed process sees its own files and no other method's."""

import hashlib
import importlib
import json
from pathlib import Path

import pytest

import w2s_bench.methods
from w2s_bench import isolate, registry
from w2s_bench.check import report
from w2s_bench.specs import SpecError, spec_hash

BWRAP = pytest.mark.skipif(isolate._bwrap_runs() is not None, reason=str(isolate._bwrap_runs()))

CORE = "from w2s_bench.methods.naive import Naive\n\n\nclass Folded(Naive):\n    name = 'folded'\n"


def _write(root: Path, files: dict) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content)
    importlib.invalidate_caches()
    return root


@pytest.fixture
def where(tmp_path, monkeypatch):
    """A folder on the import path for the test's method packages; no describe result reused."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_described", {})
    return tmp_path


def _folder_method(where: Path, name: str, extra: dict | None = None) -> str:
    _write(
        where / name,
        {"__init__.py": "from .core import Folded\n", "core.py": CORE, "table.json": '{"a": 1}\n', **(extra or {})},
    )
    return f"{name}:Folded"


def _old_code_sha256(module: str) -> str:
    """The code hash as committed entries recorded it (the walk before folder methods)."""
    import ast
    import importlib.util

    found, todo = {}, [module]
    while todo:
        name = todo.pop()
        spec = importlib.util.find_spec(name) if name not in found else None
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        found[name] = Path(spec.origin)
        for node in ast.walk(ast.parse(found[name].read_text(), str(found[name]))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else []
            )
            todo += [n for n in names if n.startswith("w2s_bench.methods.")]
    return spec_hash({m: hashlib.sha256(p.read_bytes()).hexdigest() for m, p in sorted(found.items())})


def test_every_single_file_method_keeps_its_code_hash():
    """Committed entries record method_code_sha256: a one-file method's hash is unchanged."""
    for name, path in registry.METHODS.items():
        assert registry.code_sha256(path) == _old_code_sha256(path.partition(":")[0]), name
    assert set(registry.source_files("w2s_bench.methods.entropy")) == {
        "w2s_bench.methods.entropy",
        "w2s_bench.methods.aux_conf",
    }
    assert set(registry.source_files("w2s_bench.methods.probe_filter")) == {
        "w2s_bench.methods.probe_filter",
        "w2s_bench.methods.probe_relabel",
    }


def test_a_data_file_of_a_folder_method_is_in_its_code_hash(where):
    path = _folder_method(where, "folded_data")
    files = registry.source_files("folded_data")
    assert set(files) == {
        "folded_data/__init__.py",
        "folded_data/core.py",
        "folded_data/table.json",
        "w2s_bench.methods.naive",
    }  # (the method it imports)
    before = registry.code_sha256(path)
    (where / "folded_data" / "table.json").write_text('{"a": 2}\n')
    edited = registry.code_sha256(path)
    assert edited != before
    _write(where / "folded_data", {"notes/extra.txt": "a file no code names\n"})
    assert registry.code_sha256(path) not in (before, edited)
    added = registry.code_sha256(path)
    _write(where / "folded_data", {"__pycache__/core.cpython-311.pyc": b"\x00bytecode"})
    assert registry.code_sha256(path) == added  # bytecode is not the method's source


def test_a_relative_helper_import_is_hashed(where, monkeypatch):
    """A one-file method of the methods package importing a sibling relatively
    (`from . import x`, `from .x import y`): the sibling is part of its code."""
    extra = where / "extra_methods"
    _write(
        extra,
        {
            "relmeth.py": "from . import relhelper_a\nfrom .relhelper_b import VALUE\n" + CORE,
            "relhelper_a.py": "A = 1\n",
            "relhelper_b.py": "VALUE = 1\n",
        },
    )
    monkeypatch.setattr(w2s_bench.methods, "__path__", [*w2s_bench.methods.__path__, str(extra)])
    path = "w2s_bench.methods.relmeth:Folded"
    assert set(registry.source_files("w2s_bench.methods.relmeth")) == {
        "w2s_bench.methods.relmeth",
        "w2s_bench.methods.relhelper_a",
        "w2s_bench.methods.relhelper_b",
        "w2s_bench.methods.naive",
    }
    first = registry.code_sha256(path)
    (extra / "relhelper_a.py").write_text("A = 2\n")
    second = registry.code_sha256(path)
    (extra / "relhelper_b.py").write_text("VALUE = 2\n")
    assert len({first, second, registry.code_sha256(path)}) == 3


def test_an_undeclared_binary_file_is_refused_and_a_declared_one_listed(where, monkeypatch):
    path = _folder_method(where, "folded_bin", {"table.npz": b"PK\x03\x04\x00\xff binary"})
    message = (
        r"method folded_bin:Folded: folded_bin/table\.npz is a binary file \(not UTF-8 text\) "
        r"with no declared reason; declare it in .*folded_bin/__init__\.py: "
        r"BINARY_FILES = \{'table\.npz': 'why the method needs it'\}"
    )
    with pytest.raises(SpecError, match=message):
        registry.code_sha256(path)
    with pytest.raises(SpecError, match=message):
        registry.method_ref("folded_bin", path=path)  # refused before anything runs
    monkeypatch.setitem(registry.METHODS, "folded_bin", path)
    text = report("folded_bin", [], "")
    assert "| `folded_bin/table.npz` | 13 B | **binary, no declared reason** |" in text

    init = where / "folded_bin" / "__init__.py"
    init.write_text(init.read_text() + "BINARY_FILES = {'table.npz': 'the prior the loss reads'}\n")
    assert len(registry.code_sha256(path)) == 64
    text = report("folded_bin", [], "")
    assert "| `folded_bin/table.npz` | 13 B | binary: the prior the loss reads |" in text
    assert "| `folded_bin/table.json` | 9 B | text |" in text
    assert "| `folded_bin/core.py` |" in text and "| `folded_bin/__init__.py` |" in text

    init.write_text(init.read_text().replace("{'table.npz'", "{'gone.npz': 'a file since removed', 'table.npz'"))
    with pytest.raises(
        SpecError,
        match=r"BINARY_FILES names gone\.npz, which is not a file of the "
        r"method",
    ):
        registry.code_sha256(path)


def test_check_method_lists_a_one_file_methods_files():
    text = report("entropy", [], "")
    for module in ("entropy", "aux_conf"):
        size = (Path(w2s_bench.methods.__file__).parent / f"{module}.py").stat().st_size
        assert f"| `w2s_bench.methods.{module}` | {size} B | text |" in text


@BWRAP
def test_another_methods_files_are_not_visible_under_bubblewrap(where, monkeypatch):
    methods = Path(w2s_bench.methods.__file__).parent
    _write(
        where / "folded_vis",
        {
            "table.json": '"its own data"',
            "__init__.py": (
                "import json, os\nfrom pathlib import Path\n\nimport w2s_bench.methods\n"
                "from w2s_bench.api import Method\n"
                "from w2s_bench.methods.aux_conf import alpha_at  # noqa: F401 - a method it imports\n\n"
                "METHODS = Path(w2s_bench.methods.__file__).parent\n"
                "SEEN = json.dumps({'listing': sorted(os.listdir(METHODS)),\n"
                "                   'own': json.loads((Path(__file__).parent / 'table.json').read_text())})\n\n\n"
                "class Vis(Method):\n    name = 'vis'\n\n    class Config(Method.Config):\n"
                "        seen: str = SEEN\n"
            ),
        },
    )
    assert (methods / "naive.py").exists()  # in this process, every method's file is there
    monkeypatch.setenv("W2S_BENCH_ISOLATION", isolate.BUBBLEWRAP)
    seen = json.loads(registry.method_ref("vis", path="folded_vis:Vis").config["seen"])
    assert seen["own"] == "its own data"
    assert [f for f in seen["listing"] if f != "__pycache__"] == ["__init__.py", "aux_conf.py"]
