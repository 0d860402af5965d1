"""Generate docs/cli.md from the Typer app, so the reference never drifts.

Run ``python -m leapscope.cli._docs > docs/cli.md``.
"""

from __future__ import annotations

from typing import Any

import typer.main

from leapscope.cli import app

HEADER = """# leapscope CLI reference

Generated from the commands themselves (`python -m leapscope.cli._docs > docs/cli.md`);
a test keeps this file in sync. Every command is a thin layer over the Python API.
Known errors print one readable block and exit 2; set `LEAPSCOPE_DEBUG=1` for the traceback.
An unexpected error (a bug, or a workspace file leapscope cannot read) prints one paragraph
instead, naming the command and the error's type and first line, and exits 1; run the same
command again with `LEAPSCOPE_DEBUG=1` to see its traceback, and report it.
"""


def _is_argument(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "argument"


def _param_line(param: Any) -> str:
    if _is_argument(param):
        help_text = getattr(param, "help", "") or ""
        return f"- `{param.name.upper()}` (argument{', required' if param.required else ''}): {help_text}".rstrip(": ")
    opt = param
    names = ", ".join(f"`{o}`" for o in [*opt.opts, *opt.secondary_opts])
    help_text = getattr(opt, "help", "") or ""
    default = opt.default if not callable(opt.default) and opt.default not in (None, False) else None
    extra = f" (default: {default})" if default is not None else ""
    return f"- {names}: {help_text}{extra}".rstrip()


def render() -> str:
    """The CLI reference as Markdown."""
    group: Any = typer.main.get_command(app)
    parts = [HEADER]
    for name in sorted(group.commands):
        cmd = group.commands[name]
        usage = " ".join(["[OPTIONS]", *(p.name.upper() for p in cmd.params if _is_argument(p))])
        parts.append(f"## `leapscope {name}`\n\n    leapscope {name} {usage}\n\n{(cmd.help or '').strip()}\n")
        params = [p for p in cmd.params if p.name != "help"]
        if params:
            parts.append("\n".join(_param_line(p) for p in params) + "\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
