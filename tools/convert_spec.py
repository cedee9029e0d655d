"""Convert an old-style chapter (a ``SPEC = {...}; validate(...)`` cell) to the library spec.

Usage (from the book's root)::

    python tools/convert_spec.py chapters/NAME.ipynb            # write both, report
    python tools/convert_spec.py chapters/NAME.ipynb --dry-run  # print, write nothing

It does three things:

1. writes ``stelib/tooling/specs/NAME.py`` (unless it exists: then it is left alone and used) with the
   cell's imports and helper constants, ``SPEC = ChapterSpec("NAME", {...}, rules=(...))``, and
   one :class:`stelib.params.Rule` per ``if CONDITION: raise ValueError(...)`` statement of
   the cell (the rule holds when ``CONDITION`` is false; its text is the ``ValueError``
   message when that is a plain string, otherwise ``not (CONDITION)``: edit it to read well);
2. replaces the cell by the one-liner
   ``from stelib.params import check_chapter; check_chapter("NAME", globals())``, tagged
   ``remove-cell`` (hidden in the rendered page), with no outputs;
3. puts the box "Rerun this chapter" (``RERUN_BOX``) under the chapter's title, unless the
   first markdown cell has it already; it links to the chapter's anchored parameter table on
   the rerun page (``params-NAME``, made by the ``stelib-parameters`` directive);
4. lists the parameter comments that contain ``=`` (papermill's ``--help-notebook`` drops
   those lines) or still state the allowed values: rewrite them by hand to say what a value
   means.

Anything in the cell it cannot convert (for example a statement that computes from the
parameters before ``validate``) stops it with exit status 1 and the statement, before anything
is written. Then run ``python -m pytest tests/test_params.py -q`` and re-execute the chapter.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ONE_LINER = 'from stelib.params import check_chapter; check_chapter("{name}", globals())'
RERUN_BOX = """
:::{{admonition}} Rerun this chapter
:class: tip
`stelib rerun {name} -p NAME VALUE` runs this page again with your own values (see
{{doc}}`how to rerun a chapter <rerun>`); the {{ref}}`parameter table of this chapter
<params-{name}>` lists each parameter's default, allowed values and meaning.
:::
"""


def add_rerun_box(nb, name: str) -> bool:
    """Insert ``RERUN_BOX`` after the title line of the first markdown cell; False if present."""
    cell = next(c for c in nb.cells if c.cell_type == "markdown")
    if "Rerun this chapter" in cell.source:
        return False
    title, _, rest = cell.source.partition("\n")
    cell.source = f"{title}\n{RERUN_BOX.format(name=name)}{rest}"
    return True


class _ToValues(ast.NodeTransformer):
    """``m`` -> ``v["m"]`` for the parameter names."""

    def __init__(self, names):
        self.names, self.used = set(names), []

    def visit_Name(self, node):
        if node.id in self.names and isinstance(node.ctx, ast.Load):
            if node.id not in self.used:
                self.used.append(node.id)
            return ast.copy_location(ast.Subscript(ast.Name("v", ast.Load()), ast.Constant(node.id),
                                                   ast.Load()), node)
        return node


def _message(stmt: ast.If) -> str | None:
    raise_ = stmt.body[-1] if stmt.body else None
    if isinstance(raise_, ast.Raise) and isinstance(raise_.exc, ast.Call) and raise_.exc.args:
        arg = raise_.exc.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
    return None


def convert_cell(name: str, source: str, params) -> str:
    """Source of ``stelib/tooling/specs/NAME.py`` from the old validation cell's ``source``.

    ``params``: the parameters cell's names, or its :class:`stelib.params.Parameter` by name
    (:func:`stelib.params.read_parameters`): then every entry is ``Param(default, allowed,
    meaning)`` with the cell's default and comment, as tests/test_params.py requires.
    """
    described = dict(params) if isinstance(params, dict) else {}
    params = list(params)
    tree = ast.parse(source)
    head, consts, spec_expr, rules = [], [], None, []
    seen_validate = False
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            if isinstance(stmt, ast.ImportFrom) and stmt.module == "stelib.params":
                continue
            head.append(ast.unparse(stmt))
        elif (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
              and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == "SPEC"):
            spec_expr = stmt.value
        elif (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
              and getattr(stmt.value.func, "id", None) == "validate"):
            seen_validate = True
        elif isinstance(stmt, ast.Assign) and not seen_validate and not (
                {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)} & set(params)):
            consts.append(ast.unparse(stmt))  # a helper constant such as STE = Choice(...)
        elif (isinstance(stmt, ast.If) and not stmt.orelse and len(stmt.body) == 1
              and isinstance(stmt.body[0], ast.Raise)):
            t = _ToValues(params)
            cond = t.visit(ast.parse(ast.unparse(stmt.test), mode="eval").body)
            text = _message(stmt) or f"not ({ast.unparse(stmt.test)})"
            rules.append((text, f"lambda v: not ({ast.unparse(cond)})", tuple(t.used)))
        else:
            raise SystemExit(f"cannot convert this statement, convert it by hand:\n"
                             f"  {ast.unparse(stmt)}")
    if spec_expr is None:
        raise SystemExit("the cell defines no SPEC = {...}")
    depends = {n.id for n in ast.walk(spec_expr) if isinstance(n, ast.Name)} & set(params)
    if depends:
        raise SystemExit(f"SPEC bounds depend on parameters {sorted(depends)}: write them as "
                         "fixed bounds plus a Rule by hand")
    used = {n.id for n in ast.walk(ast.Module([*ast.parse("\n".join(consts)).body,
                                                 ast.Expr(spec_expr)], []))
            if isinstance(n, ast.Name)}
    kinds = sorted({"ChapterSpec", *({"Rule"} if rules else set()), *({"Param"} if described else set()),
                    *(used & {"Bool", "Choice", "Int", "Real", "Seq"})})

    def entry(k, v) -> str:
        p = described.get(k.value) if isinstance(k, ast.Constant) else None
        if p is None:
            return f"    {ast.unparse(k)}: {ast.unparse(v)},\n"
        return f"    {ast.unparse(k)}: Param({p.default!r}, {ast.unparse(v)}, {p.comment!r}),\n"

    entries = "".join(entry(k, v) for k, v in zip(spec_expr.keys, spec_expr.values, strict=True))
    rule_src = "".join(f"    Rule({text!r},\n         {fn}, {names!r}),\n"
                       for text, fn, names in rules)
    lines = [f'"""Parameters of the chapter ``chapters/{name}.ipynb`` (converted by '
             'tools/convert_spec.py)."""', "",
             *head, f"from stelib.tooling.chapterspec import {', '.join(kinds)}", "", *consts,
             *([""] if consts else []),
             f"SPEC = ChapterSpec({name!r}, {{", entries.rstrip("\n"),
             "}" + (", rules=(\n" + rule_src + "))" if rules else ")"), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--dry-run", action="store_true", help="print what would be written")
    args = ap.parse_args(argv)
    import nbformat

    from stelib.params import _cells, _parameters_index, read_parameters

    nb = nbformat.read(str(args.notebook), as_version=4)
    name = args.notebook.stem
    params = read_parameters(nb)
    cell = _cells(nb)[_parameters_index(nb) + 1]
    spec_file = ROOT / "stelib" / "tooling" / "specs" / f"{name}.py"
    one_liner = ONE_LINER.format(name=name)
    if cell.source.strip() != one_liner and not spec_file.exists():
        module = convert_cell(name, cell.source, params)
        print(f"--- {spec_file.relative_to(ROOT)}\n{module}")
        if not args.dry_run:
            spec_file.write_text(module)
    elif spec_file.exists():
        print(f"{spec_file.relative_to(ROOT)} exists: kept as it is")
    cell.source = one_liner
    cell.outputs, cell.execution_count = [], None
    tags = [t for t in cell.metadata.get("tags", []) if t != "remove-cell"]
    cell.metadata["tags"] = [*tags, "remove-cell"]
    cell.metadata.pop("execution", None)
    if add_rerun_box(nb, name):
        print(f"{args.notebook}: {'would add' if args.dry_run else 'added'} the box 'Rerun this chapter'")
    if not args.dry_run:
        nbformat.write(nb, str(args.notebook))
        print(f"{args.notebook}: validation cell is now `{one_liner}` (tag remove-cell)")
    ranges = re.compile(r"=|\bin [\[(]|\binteger\b|\bone of\b|\b\d+ to \d+\b")
    for p in read_parameters(nb).values():
        if ranges.search(p.comment):
            print(f"  rewrite the comment of {p.name!r} to say what it means: {p.comment!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
