"""The layers of ../shared/ARCHITECTURE.md, checked on the imports themselves (parsed with ``ast``, never run):
only the UI imports streamlit, nothing imports a layer above its own, and the README's "What is where" lists
the modules in the same order."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Top to bottom (../shared/ARCHITECTURE.md's picture, README's "What is where"). A module imports only from its
# own layer or below.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = tuple(
    (layer, frozenset(modules.split()))
    for layer, modules in (
        ("ui", "app ui_session ui_chat ui_sidebar ui_stream"),
        ("turn", "turn compare titling content_safety"),
        (
            "storage",
            "store storage_backend storage_postgres records exporters document_store rate_windows response_cache"
            " usage_log",
        ),
        ("conversation", "conversation_manager prompt_breakdown"),
        (
            "client",
            "llm_client stream_assembly provider_dialects rate_limiter budget local_backend local_server_process"
            " local_servers provider_health",
        ),
        ("events", "events errors retry_policy chat_params wire_trace"),
        (
            "tables",
            "function_tools knowledge_base documents prompt_templates token_tracker offline_encodings model_catalog"
            " formulas reply_format mcp_tools attachments auth stream_pacing welcome chat_groups model_router",
        ),
        ("settings", "config app_logging i18n"),
    )
)
STREAMLIT_LAYER = "ui"
NOT_YET_WRITTEN: frozenset[str] = frozenset()  # in the table before its file exists


def layer_of(module: str) -> int | None:
    """The layer's depth (0 is the top); a ``ui_*`` module or the modules of a ``ui`` package are UI."""
    if module.startswith("ui_") or module == "ui" or module.startswith("ui."):
        return 0
    return next((depth for depth, (_, names) in enumerate(LAYERS) if module in names), None)


def imported(source: str) -> set[str]:
    """Every module an import statement names, wherever it stands (function bodies and TYPE_CHECKING too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sources() -> dict[str, str]:
    """The app's modules by name: every top-level *.py, and a ``ui`` package's modules if there is one."""
    found = {path.stem: path.read_text(encoding="utf-8") for path in ROOT.glob("*.py")}
    for path in (ROOT / "ui").glob("*.py"):
        name = "ui" if path.stem == "__init__" else f"ui.{path.stem}"
        found[name] = path.read_text(encoding="utf-8")
    return found


def ours(name: str, modules: set[str]) -> str | None:
    """The app module an import refers to (``ui.chat`` for ``from ui.chat import x``), or None for a library."""
    parts = name.split(".")
    return next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in modules), None)


def violations(modules: dict[str, str]) -> list[str]:
    """Each import that breaks the layering, as a sentence."""
    found = []
    for module, source in sorted(modules.items()):
        depth = layer_of(module)
        for name in sorted(imported(source)):
            if name.split(".")[0] == "streamlit" and depth != 0:
                found.append(f"{module} imports {name}: only the {STREAMLIT_LAYER} layer may")
            target = ours(name, set(modules))
            target_depth = layer_of(target) if target else None
            if depth is not None and target_depth is not None and target_depth < depth:
                found.append(f"{module} ({LAYERS[depth][0]}) imports {target} from above ({LAYERS[target_depth][0]})")
    return found


def test_every_module_has_its_place_in_the_table():
    modules = set(sources())
    assert not [m for m in sorted(modules) if layer_of(m) is None], "add each new module to LAYERS"
    listed = {name for _, names in LAYERS for name in names}
    assert not sorted(listed - modules - NOT_YET_WRITTEN), "LAYERS names a module that is gone"


def test_only_the_ui_imports_streamlit_and_nothing_imports_upward():
    assert violations(sources()) == []


def test_the_check_sees_upward_and_streamlit_imports_wherever_they_stand():
    modules = {
        "config": "def later():\n    from turn import Turn\n",
        "errors": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import streamlit.components.v1\n",
        "store": "import conversation_manager, records\n",
        "records": "",
        "conversation_manager": "",
        "turn": "",
        "ui_chat": "import streamlit as st\nfrom store import Store\n",
    }
    assert violations(modules) == [
        "config (settings) imports turn from above (turn)",
        "errors imports streamlit.components.v1: only the ui layer may",
    ]


def readme_rows() -> list[list[str]]:
    """The modules of each row of the README's "What is where" table, top to bottom."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## What is where", 1)[1].split("\n## ", 1)[0]
    cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return [row for row in (re.findall(r"`([\w/]+)\.py`", cell) for cell in cells) if row]


def readme_disagreements(rows: list[list[str]]) -> list[str]:
    """Where the README's rows leave the layers: a row across layers, a row above one of a higher layer."""
    found, deepest = [], 0
    for row in rows:
        depths = {layer_of(module) for module in row}
        names = " ".join(row)
        if None in depths or len(depths) != 1:
            found.append(f"row `{names}` spans {sorted(LAYERS[d][0] if d is not None else '?' for d in depths)}")
            continue
        (depth,) = depths
        if depth is not None and depth < deepest:
            found.append(f"row `{names}` ({LAYERS[depth][0]}) stands below {LAYERS[deepest][0]}")
        deepest = max(deepest, depth or 0)
    listed = {name for _, names in LAYERS for name in names}
    found += [f"{name} is not listed" for name in sorted(listed - {module for row in rows for module in row})]
    return found


def test_the_readmes_what_is_where_lists_the_layers_top_to_bottom():
    assert readme_disagreements(readme_rows()) == []


def test_the_readme_check_sees_a_row_out_of_place():
    rows = [["app"], ["config"], ["store", "events"], ["turn"]]
    found = readme_disagreements(rows)
    assert found[:2] == [
        "row `store events` spans ['events', 'storage']",
        "row `turn` (turn) stands below settings",
    ]
    assert "llm_client is not listed" in found
