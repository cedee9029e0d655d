"""The book's Sphinx extension: generated tables, checks of the build, and page assets.

``_config.yml`` lists ``stelib.book`` as a Sphinx extension; its ``setup`` is :func:`setup`
here. It provides the directives ``stelib-parameters`` (the parameter reference of every
chapter, each table anchored as ``params-<chapter>``) and ``stelib-reproducibility``
(execution times and versions, from the record of :mod:`stelib.execution`), and hooks that

- make a plain ``jupyter-book build .`` fail when a chapter failed to execute (read from
  myst-nb's execution records), and, in the student's edition, remove the solutions from every
  downloadable source (:func:`stelib.editions.strip_built_sources`);
- keep the jupyter-cache under ``<book>/_build`` whatever the working directory, and switch
  on sphinx-exercise's ``hide_solutions`` for the student's edition
  (``stelib.editions.STUDENT_ENV``);
- give every image its figure caption as alt text (a warning, a failure under ``-W``, for an
  image with neither);
- load ``plotly.min.js`` (copied from the installed plotly package) in pages with interactive
  figures (:mod:`stelib.interactive`), and drop the script entries repeated by sphinx-thebe.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from stelib.tooling.editions import STUDENT_ENV, strip_built_sources
from stelib.tooling.execution import BUDGET_SECONDS, timings_path, versions
from stelib.tooling.toc import chapters


def _table(header: list[str], rows: list[list[str]]):
    from docutils import nodes

    table = nodes.table(classes=["stelib-table"])
    group = nodes.tgroup(cols=len(header))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in header)

    def row(cells, head=False):
        r = nodes.row()
        for c in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=c) if not head else nodes.strong(text=c)
            r += entry
        return r

    thead = nodes.thead()
    thead += row(header, head=True)
    tbody = nodes.tbody()
    tbody.extend(row(r) for r in rows)
    group += [thead, tbody]
    return table


INTERACTIVE_MARK = 'class="stelib-interactive"'  # stelib.interactive's figures in a page body


def plotly_js() -> Path:
    """``plotly.min.js`` of the installed ``plotly`` package (MIT), which the book ships under
    ``_static`` for pages with interactive figures; ``RuntimeError`` when not installed."""
    try:
        import plotly
    except ImportError:
        raise RuntimeError("a page has interactive figures (stelib.interactive): install plotly "
                           "(pip install 'stelib[book]')") from None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the plotly package")
    return path


def _interactive_js(app, pagename, templatename, context, doctree):
    """Pages holding interactive figures load ``_static/plotly.min.js`` (in <head>, so the
    figures' own scripts find it); the file is copied there once, from the plotly package."""
    if INTERACTIVE_MARK not in str(context.get("body", "")):
        return
    static = Path(app.outdir) / "_static" / "plotly.min.js"
    if not static.exists():
        import shutil

        static.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plotly_js(), static)
    from sphinx.builders.html._assets import _JavaScript

    context["script_files"].append(_JavaScript("_static/plotly.min.js", priority=500))


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    """Drop repeated <script> entries (sphinx-thebe registers its config script twice under
    Sphinx 7, and the second ``const THEBE_JS_URL`` is a JavaScript error in every page)."""
    seen, unique = set(), []
    for js in context.get("script_files", []):
        attrs = getattr(js, "attributes", {})
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted(attrs.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    if "script_files" in context:
        context["script_files"][:] = unique


def _config_inited(app, config):
    """Cache under ``<book>/_build`` whatever the working directory; the student's edition."""
    cache = config["nb_execution_cache_path"] if "nb_execution_cache_path" in config else ""
    if cache and not Path(cache).is_absolute():
        config["nb_execution_cache_path"] = str(Path(app.srcdir) / cache)
    if os.environ.get(STUDENT_ENV) and "hide_solutions" in config:
        config["hide_solutions"] = True


def failed_executions(env) -> dict[str, str]:
    """``{document: error}`` for every notebook myst-nb executed without success in this build."""
    try:
        from myst_nb.sphinx_ import NbMetadataCollector
    except ImportError:  # pragma: no cover - myst-nb is how chapters are executed at all
        return {}
    out = {}
    for doc in sorted(env.found_docs):
        data = NbMetadataCollector.get_exec_data(env, doc)
        if data and not data.get("succeeded", True):
            out[doc] = str(data.get("error") or "execution failed")
    return out


def _build_finished(app, exception):
    """Fail the build (exit status 1, even without -W) when a chapter failed to execute: its
    page would otherwise mix fresh outputs with stale stored ones."""
    if exception is not None:
        return
    from sphinx.util import logging

    failed = failed_executions(app.env)
    for doc, error in failed.items():
        logging.getLogger(__name__).error(f"chapter {doc} failed to execute ({error}); its page "
                                          "is not a result", location=doc)
    if failed:
        app.statuscode = 1
    if getattr(app.config, "hide_solutions", False) and app.builder.format == "html":
        try:  # the student's edition: no solution in any source a reader can download either
            strip_built_sources(Path(app.outdir))
        except (RuntimeError, ValueError, OSError) as exc:
            logging.getLogger(__name__).error(f"student edition: {exc}")
            app.statuscode = 1


HASH_OR_FILE = re.compile(r"(?:^|/)[0-9a-f]{16,}(?:\.\w+)?$|\.(?:png|jpe?g|svg|gif|webp|pdf)$", re.I)


TEX_WORDS = {**{g: chr(c) for g, c in [
    ("alpha", 945), ("beta", 946), ("gamma", 947), ("delta", 948), ("varepsilon", 949),
    ("epsilon", 949), ("eta", 951), ("theta", 952), ("lambda", 955), ("mu", 956), ("pi", 960),
    ("rho", 961), ("sigma", 963), ("tau", 964), ("phi", 966), ("varphi", 966), ("Phi", 934)]},
    "pm": "±", "times": "×", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "infty": "∞",
    "approx": "≈", "to": "→", "cdot": "·", "mathrm": "", "mathbb": "", "operatorname": "",
    "rm": "", "left": "", "right": "", "tfrac": "", "frac": ""}


def caption_alt(caption) -> str:
    """Alt text from a figure caption node: its text on one line, TeX commands of inline
    math reduced to their names (``\\mu'`` -> ``mu'``)."""
    text = re.sub(r"\\([A-Za-z]+)\s*", lambda m: TEX_WORDS.get(m[1], m[1] + " "), caption.astext())
    return re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()


def _figure_alt_text(app, doctree, docname):
    """Every image whose alt text is missing or a file name (myst-nb gives a cell's output
    image none, so the HTML showed its hash) gets its figure caption as alt text; an image
    without a caption is a warning (a failure under -W)."""
    from docutils import nodes
    from sphinx.util import logging

    for img in doctree.findall(nodes.image):
        alt = str(img.get("alt", "")).strip()
        if alt and not HASH_OR_FILE.search(alt) and alt != img.get("uri"):
            continue
        fig = img.parent
        while fig is not None and not isinstance(fig, nodes.figure):
            fig = fig.parent
        caption = next(iter(fig.findall(nodes.caption)), None) if fig is not None else None
        if caption is None or not caption.astext().strip():
            logging.getLogger(__name__).warning(
                f"image without a caption or alt text ({Path(str(img.get('uri', ''))).name}): "
                "give the cell a myst-nb figure caption (metadata mystnb.figure.caption)",
                location=img)
            continue
        img["alt"] = caption_alt(caption)


def setup(app):
    """Sphinx entry point: the two generated-content directives and the build checks."""
    from docutils import nodes
    from sphinx.util.docutils import SphinxDirective

    from stelib.tooling import params, specs

    class ParametersDirective(SphinxDirective):
        """One anchored section per chapter (``params-<chapter>``): name, default, allowed
        values, meaning, and the rules spanning parameters."""

        def run(self):
            out = []
            for ch in chapters(Path(self.env.srcdir)):
                self.env.note_dependency(str(ch.path))
                try:
                    spec = specs.get(ch.name)
                except ValueError as exc:  # a chapter without stelib/tooling/specs/<name>.py
                    out.append(self.state.document.reporter.warning(
                        f"{exc} (write stelib/tooling/specs/{ch.name}.py, e.g. with tools/convert_spec.py)",
                        line=self.lineno))
                    continue
                anchor = f"params-{ch.name}"
                section = nodes.rubric(text=f"{ch.name}: {ch.title}", ids=[anchor], names=[anchor])
                self.state.document.note_explicit_target(section)
                ref = nodes.paragraph()
                ref += nodes.Text("Rerun: ")
                ref += nodes.literal(text=f"stelib rerun {ch.name} -p NAME VALUE")
                rows = [[p.name, params.short(p.default), p.allowed, p.comment]
                        for p in params.describe(spec, ch.path)]
                out += [section, ref, _table(["name", "default", "allowed", "meaning"], rows)]
                if spec.rules:
                    rules = nodes.bullet_list()
                    for rule in spec.rules:
                        item = nodes.list_item()
                        item += nodes.paragraph(text=rule.text)
                        rules += item
                    intro = nodes.paragraph(text="Checked together, with the values given:")
                    out += [intro, rules]
            return out

    class ReproducibilityDirective(SphinxDirective):
        """Per-chapter execution times of ``stelib execute``, the versions and git commit."""

        def run(self):
            root = Path(self.env.srcdir)
            path = timings_path(root)
            self.env.note_dependency(str(path))
            record = json.loads(path.read_text()) if path.exists() else {}
            times = record.get("chapters", {})
            rows = []
            for ch in chapters(root):
                t = times.get(ch.name)
                sec = "not yet executed" if t is None else f"{t['seconds']:.1f}"
                ok = "" if t is None else ("yes" if t["seconds"] <= BUDGET_SECONDS else "NO")
                rows.append([ch.name, ch.title, sec, ok])
            total = sum(t["seconds"] for t in times.values())
            rows.append(["total", "", f"{total:.1f}", ""])
            recorded = record.get("environment", {})
            now = versions(root)
            vrows = [[k, recorded.get(k, "-"), now.get(k, "-")]
                     for k in dict.fromkeys([*now, *recorded])]
            return [_table(["chapter", "title", "seconds", f"within {BUDGET_SECONDS:.0f} s"], rows),
                    nodes.rubric(text="Versions"),
                    _table(["package", "when the outputs were stored", "this build"], vrows)]

    app.add_directive("stelib-parameters", ParametersDirective)
    app.add_directive("stelib-reproducibility", ReproducibilityDirective)

    def always_reread(app, env, added, changed, removed):
        return [d for d in ("chapters/rerun", "chapters/reproducibility") if d in env.found_docs]

    app.connect("config-inited", _config_inited, priority=900)
    app.connect("env-get-outdated", always_reread)
    app.connect("html-page-context", _interactive_js, priority=400)
    app.connect("html-page-context", _dedupe_scripts)
    app.connect("build-finished", _build_finished)
    app.connect("doctree-resolved", _figure_alt_text)
    from stelib import __version__

    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": __version__}
