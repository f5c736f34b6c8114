"""The layers depend one way and file formats are known in one place (../shared/DESIGN.md).

Read from the source, not from what happens to be imported: a function-level import counts.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUFFIX_LITERAL = re.compile(r"""["']\.(?:pdf|txt|text|md|markdown|html?|docx?)["']""")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_library_never_imports_ingestion_or_the_front_ends():
    offenders = {}
    for path in (ROOT / "kb").rglob("*.py"):
        bad = {m for m in imported_modules(path) if m.split(".")[0] in ("ingest", "cli", "app")}
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders


def test_the_query_path_needs_no_ingestion_code():
    for name in ("kb/search.py", "kb/abstain.py", "kb/highlight.py", "kb/backends/local/backend.py"):
        assert not any(m.startswith("ingest") for m in imported_modules(ROOT / name))


def test_file_formats_are_named_only_in_the_format_registry():
    """Discovery, uploads, the CLI and the app read ingest/formats; no other module lists suffixes."""
    readers = [ROOT / "ingest" / "discover.py", ROOT / "ingest" / "uploads.py", ROOT / "ingest" / "pipeline.py",
               ROOT / "cli.py", *(p for p in (ROOT / "kb").rglob("*.py") if p.name != "app_support.py")]
    offenders = [str(p.relative_to(ROOT)) for p in readers if SUFFIX_LITERAL.search(p.read_text(encoding="utf-8"))]
    assert not offenders
    from ingest import formats

    assert {f.kind for f in formats.FORMATS.values()} >= {"pdf", "html", "markdown", "text"}
    for fmt in formats.FORMATS.values():
        assert fmt.suffixes and all(s.startswith(".") and s == s.lower() for s in fmt.suffixes)
        assert formats.for_path(f"x{fmt.suffixes[0].upper()}") is fmt
