"""Static checks of web/src (no browser): one client fetches, the modules import no cycle, the API types are generated."""

from __future__ import annotations

import re
from pathlib import Path

WEB_SRC = Path(__file__).resolve().parents[2] / "web" / "src"
_IMPORT = re.compile(r"""^\s*import\s[^;]*?from\s+["'](\.[^"']+)["']""", re.M)


def _module(source: Path, spec: str) -> Path | None:
    base = (source.parent / spec).resolve()
    for candidate in (base, *(base.with_name(base.name + ext) for ext in (".ts", ".tsx", ".d.ts"))):
        if candidate.is_file():
            return candidate
    return None


def _graph() -> dict[Path, set[Path]]:
    graph: dict[Path, set[Path]] = {}
    for source in WEB_SRC.rglob("*.ts*"):
        graph[source.resolve()] = {m for spec in _IMPORT.findall(source.read_text()) if (m := _module(source, spec))}
    return graph


def test_web_modules_import_no_cycle() -> None:
    """App.tsx imports the pages; the pages read the route from router.ts, never from App.tsx."""
    graph = _graph()
    assert graph, f"no sources under {WEB_SRC}"
    cycles: list[str] = []
    state: dict[Path, int] = {}  # 1: on the stack, 2: done

    def visit(node: Path, stack: list[Path]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                cycles.append(" -> ".join(str(p.relative_to(WEB_SRC)) for p in cycle))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_only_the_client_fetches() -> None:
    offenders = [
        str(p.relative_to(WEB_SRC))
        for p in WEB_SRC.rglob("*.ts*")
        if p.name != "api.ts" and re.search(r"\bfetch\(", p.read_text())
    ]
    assert not offenders, f"fetch() outside web/src/api.ts: {offenders}"


def test_api_types_come_from_the_generated_schema() -> None:
    """No hand-written interface of an API answer in api.ts or the pages: they alias src/generated/api.d.ts."""
    client = (WEB_SRC / "api.ts").read_text()
    assert 'from "./generated/api"' in client
    for source in [WEB_SRC / "api.ts", *sorted((WEB_SRC / "pages").glob("*.tsx"))]:
        text = source.read_text()
        assert not re.search(r"^\s*(export\s+)?interface\s", text, re.M), f"{source.name} declares an interface by hand"
        assert not re.search(r"useApi<\{|get<\{|post<\{", text), f"{source.name} types an API answer inline"


def test_the_first_page_bundle_is_small_and_plotly_is_its_own_chunk() -> None:
    """index.html loads <= 1.5 MB of JavaScript; Plotly is a separate chunk it never references (issue 17)."""
    from leapscope.server import STATIC_DIR

    index = (STATIC_DIR / "index.html").read_text()
    first = re.findall(r"""(?:src|href)="/?(assets/[^"]+\.js)\"""", index)
    assert first, f"no script in {STATIC_DIR / 'index.html'}"
    size = sum((STATIC_DIR / p).stat().st_size for p in first)
    assert size <= 1_500_000, f"the first page loads {size} bytes of JavaScript: {first}"
    assert not [p for p in first if "plotly" in p], first
    chunks = [p.name for p in (STATIC_DIR / "assets").glob("*.js")]
    assert [c for c in chunks if c.startswith("plotly")], f"no separate Plotly chunk: {chunks}"
    # Plotly is imported dynamically, in one place (the Chart component)
    static_imports = [
        str(p.relative_to(WEB_SRC))
        for p in WEB_SRC.rglob("*.ts*")
        if re.search(r"""^\s*import\s[^;]*from\s+["']plotly""", p.read_text(), re.M)
    ]
    assert not static_imports, f"a static import of Plotly puts it in the first page: {static_imports}"
