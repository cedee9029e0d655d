"""The built book in a real browser, plus the build driver and the execution budget.

The book is built once per session from the stored outputs (execution off: nbval checks those
separately) into a temporary folder, served on localhost, and every page is opened in
headless Debian Chromium through playwright. Each page must have its math typeset by the
local MathJax (no raw ``$`` or ``\\(`` left in the text, every math element rendered), every
image loaded, every internal link pointing at an existing file and anchor, no request leaving
localhost, and no console error.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

from stelib import book

ROOT = book.ROOT
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
PAGES = ["index.html", "genindex.html", "search.html",
         *[f"{Path(f).with_suffix('')}.html" for f in book.toc_files()]]
# Known noise, suppressed explicitly: Chromium asks every site for /favicon.ico.
IGNORED_URLS = ("/favicon.ico",)

TEXT_CHECK = r"""async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "TEXTAREA", "MJX-CONTAINER", "KBD"]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  while (walker.nextNode()) {
    let p = walker.currentNode.parentElement, code = false;
    for (; p; p = p.parentElement) if (skip.has(p.tagName)) { code = true; break; }
    const t = walker.currentNode.textContent;
    if (!code && /\$[^\s$]|\$\$|\\\(|\\\[|\\begin\{/.test(t)) raw.push(t.trim().slice(0, 80));
  }
  const math = [...document.querySelectorAll(".math")];
  return {
    raw,
    math: math.length,
    untypeset: math.filter(m => !m.querySelector("mjx-container")).map(m => m.textContent.slice(0, 60)),
    mathjax: !!(window.MathJax && MathJax.version),
  };
}"""

IMAGE_CHECK = r"""async () => {
  const imgs = [...document.images];
  for (const img of imgs) { img.loading = "eager"; try { await img.decode(); } catch (e) {} }
  return {n: imgs.length, broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)};
}"""


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """The book built from stored outputs (no execution) into a temporary folder."""
    out = tmp_path_factory.mktemp("book")
    config = out / "_config.yml"
    text = (ROOT / "_config.yml").read_text()
    text, n = re.subn(r"execute_notebooks:\s*\w+", 'execute_notebooks: "off"', text)
    assert n == 1
    config.write_text(text)
    rc = book.build(config=config, output=out)
    assert rc == 0, "book build failed (the chapters it names are listed above)"
    return out / "_build" / "html"


@pytest.fixture(scope="session")
def server(built):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: `.ci/run` installs it with apt (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _ignored(url: str) -> bool:
    return urlparse(url).path in IGNORED_URLS


def _open(browser, server, page_path, width=1280):
    """Open a page, recording console errors, failed requests and requests leaving localhost."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []

    def route(r):
        if r.request.url.startswith(server) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            problems.append(f"request leaves localhost: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and not _ignored(m.location.get("url", ""))
            and problems.append(f"console error: {m.text} ({m.location.get('url')})"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: not _ignored(r.url) and problems.append(f"failed: {r.url}"))
    page.on("response", lambda r: r.status >= 400 and not _ignored(r.url)
            and problems.append(f"HTTP {r.status}: {r.url}"))
    page.goto(f"{server}/{page_path}", wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, problems


# ---------------------------------------------------------------------------- browser


@pytest.mark.book
@pytest.mark.parametrize("page_path", PAGES)
def test_page_in_browser(page_path, built, server, browser):
    assert (built / page_path).exists(), f"{page_path} was not built"
    page, problems = _open(browser, server, page_path)
    try:
        text = page.evaluate(TEXT_CHECK)
        images = page.evaluate(IMAGE_CHECK)
        links = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
        page.wait_for_timeout(200)  # late console messages
    finally:
        page.close()
    assert not text["raw"], f"raw TeX left in the text: {text['raw'][:5]}"
    assert not text["untypeset"], f"math not typeset by MathJax: {text['untypeset'][:5]}"
    if text["math"]:
        assert text["mathjax"], "the page has math but MathJax did not load"
    assert not images["broken"], f"images that did not load: {images['broken']}"
    bad_links = [u for u in links if u.startswith(server) and not _link_ok(built, server, u)]
    assert not bad_links, f"internal links that do not resolve: {bad_links[:10]}"
    assert not problems, "\n".join(problems)


SCROLL_CHECK = r"""() => {
  document.querySelectorAll("details").forEach(d => d.open = true);  // hidden inputs count too
  return [...document.querySelectorAll("div.cell div.cell_input pre, div.cell_input pre")]
    .filter(p => p.scrollWidth > p.clientWidth + 1)
    .map(p => `${p.scrollWidth - p.clientWidth}px too wide: ${p.textContent.split("\n")
      .reduce((a, b) => (b.length > a.length ? b : a), "").slice(0, 100)}`);
}"""


@pytest.mark.book
@pytest.mark.parametrize("page_path", PAGES)
def test_no_code_cell_scrolls_sideways(page_path, built, server, browser):
    """At a 1366 px wide window every line of every code cell is visible without scrolling."""
    page, _ = _open(browser, server, page_path, width=1366)
    try:
        wide = page.evaluate(SCROLL_CHECK)
    finally:
        page.close()
    assert not wide, f"code cells that scroll sideways on {page_path}:\n" + "\n".join(wide)


@pytest.mark.book
def test_numbering_anchors_and_navigation(built):
    """Propositions and figures numbered per chapter, the rerun box links to an anchored
    parameter table, figures carry myst-nb captions, and the intro is in the sidebar."""
    primer = (built / "chapters" / "primer.html").read_text()
    assert re.search(r"Proposition 1\.1\b", primer) and re.search(r"Proposition 1\.2\b", primer)
    assert re.search(r"Fig\. 1\.1\b", primer) and re.search(r"Fig\. 1\.2\b", primer)
    assert "**Figure" not in primer and "<strong>Figure" not in primer
    assert 'href="rerun.html#params-primer"' in primer
    assert '<span class="doc">introduction</span>' in primer  # {doc} links with prose text
    rerun = (built / "chapters" / "rerun.html").read_text()
    for ch in book.chapters():
        assert f'id="params-{ch.name}"' in rerun, ch.name
    nav = re.search(r'<nav class="[^"]*bd-docs-nav.*?</nav>', primer, flags=re.S)
    assert nav and "intro.html" in nav.group(0), "the intro page is missing from the sidebar"
    repro = (built / "chapters" / "reproducibility.html").read_text()
    for key in ("stelib", "git commit", "numba", "pandas", "llvmlite"):
        assert f"<p>{key}</p>" in repro, key


def test_teacher_edition_hides_solutions(monkeypatch, tmp_path):
    """`stelib build --teacher` sets sphinx-exercise's hide_solutions (through the extension)."""
    class App:
        srcdir = str(tmp_path)

    config = {"hide_solutions": False, "nb_execution_cache_path": "_build/.jupyter_cache"}
    monkeypatch.setenv(book.TEACHER_ENV, "1")
    book._config_inited(App(), config)
    assert config["hide_solutions"] is True
    assert config["nb_execution_cache_path"] == str(tmp_path / "_build" / ".jupyter_cache")
    monkeypatch.delenv(book.TEACHER_ENV)
    config = {"hide_solutions": False, "nb_execution_cache_path": "/abs/cache"}
    book._config_inited(App(), config)
    assert config == {"hide_solutions": False, "nb_execution_cache_path": "/abs/cache"}


@functools.cache
def _ids(path: Path) -> frozenset[str]:
    return frozenset(re.findall(r'\bid="([^"]+)"', path.read_text(errors="replace")))


def _link_ok(built: Path, server: str, url: str) -> bool:
    parsed = urlparse(url)
    target = built / unquote(parsed.path).lstrip("/")
    if parsed.path.endswith("/"):
        target = target / "index.html"
    if not target.is_file():
        return False
    if parsed.fragment and target.suffix == ".html":
        return unquote(parsed.fragment) in _ids(target)
    return True


@pytest.mark.book
def test_pages_have_content(built):
    """Every chapter page exists, math and figures are on the pages that should have them."""
    primer = (built / "chapters" / "primer.html").read_text()
    assert "mathjax/tex-chtml.js" in primer and "cdn.jsdelivr" not in primer
    assert primer.count("<img") >= 2
    assert (built / "_static" / "mathjax" / "tex-chtml.js").exists()
    for ch in book.chapters():
        assert (built / "_sources" / "chapters" / f"{ch.name}.ipynb").exists(), "download source"


@pytest.mark.book
def test_screenshot(built, server, browser, tmp_path_factory):
    """A full-page screenshot of the primer, kept for a human to look at (path is printed)."""
    page, problems = _open(browser, server, "chapters/primer.html")
    page.evaluate("async () => MathJax.startup.promise")
    shot = tmp_path_factory.mktemp("screenshots") / "primer.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000 and not problems


# ---------------------------------------------------------------- driver and budgets


def test_toc_lists_every_chapter_notebook():
    listed = {c.name for c in book.chapters()}
    on_disk = {p.stem for p in (ROOT / "chapters").glob("*.ipynb")}
    assert on_disk == listed, "every chapters/*.ipynb must be in _toc.yml (and vice versa)"


def test_every_chapter_executed_within_budget():
    """``make execute`` recorded every chapter, each within the 60 s budget."""
    record = json.loads(book.timings_path().read_text())
    for ch in book.chapters():
        assert ch.name in record["chapters"], f"run `make execute` after adding {ch.name}"
        seconds = record["chapters"][ch.name]["seconds"]
        assert seconds <= book.BUDGET_SECONDS, f"{ch.name} took {seconds} s"


def test_chapters_follow_the_notebook_conventions():
    """Inline figures whatever MPLBACKEND says, and a kernelspec papermill and nbval can use."""
    for ch in book.chapters():
        nb = nbformat.read(str(ch.path), as_version=4)
        assert nb.metadata.get("kernelspec", {}).get("name") == "python3", ch.name
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert "%matplotlib inline" in first.source, f"{ch.name}: imports cell needs it"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.source.rstrip().endswith(";"), \
                    f"{ch.name}: end cells with `_ = ...`, not `;` (nbval ignores the `;`)"
        stale = [i for i, c in enumerate(nb.cells) if "execution" in c.metadata]
        assert not stale and "papermill" not in nb.metadata, \
            f"{ch.name}: stale execution timestamps in cells {stale[:5]} (`stelib execute` strips them)"


def test_failing_chapters_are_named():
    log = ("\x1b[91m/work/x/chapters/misspecified.ipynb:12: WARNING: Executing notebook failed: "
           "CellExecutionError [mystnb.exec]\x1b[39;49;00m\n"
           "/work/x/chapters/intro.md:31: ERROR: Unknown directive type\nreading sources...\n")
    bad = book.failing_chapters(log)
    assert list(bad) == ["chapters/misspecified", "chapters/intro"]
    assert "Executing notebook failed" in bad["chapters/misspecified"][0]


@pytest.mark.book
def test_build_fails_naming_the_chapter(tmp_path, capsys):
    """A chapter that raises makes the build fail, and the summary names it."""
    (tmp_path / "chapters").mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Broken"),
                                         nbformat.v4.new_code_cell("1 / 0")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(tmp_path / "chapters" / "broken.ipynb"))
    (tmp_path / "chapters" / "intro.md").write_text("# Intro\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: chapters/intro\nchapters:\n"
                                       "  - file: chapters/broken\n")
    (tmp_path / "_config.yml").write_text("title: t\nexecute:\n  execute_notebooks: force\n"
                                          "only_build_toc_files: true\n")
    assert book.build(root=tmp_path) != 0
    err = capsys.readouterr().err
    assert "failing chapter chapters/broken" in err
    shutil.rmtree(tmp_path / "_build", ignore_errors=True)
    # a plain `jupyter-book build .` (no -W) fails too, through stelib.book's build-finished hook
    (tmp_path / "_config.yml").write_text("title: t\nexecute:\n  execute_notebooks: force\n"
                                          "  cache: _build/.jupyter_cache\n"
                                          "only_build_toc_files: true\n"
                                          "sphinx:\n  extra_extensions: [stelib.book]\n")
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", book.JB_MAIN, "build", "."], cwd=tmp_path,
                          capture_output=True, text=True, env=book.kernel_env())
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "chapter chapters/broken failed to execute" in proc.stdout + proc.stderr
    shutil.rmtree(tmp_path / "_build", ignore_errors=True)


def test_merge_streams_makes_stored_outputs_deterministic():
    out = [nbformat.v4.new_output("stream", name="stdout", text="a\n"),
           nbformat.v4.new_output("stream", name="stdout", text="b\n"),
           nbformat.v4.new_output("stream", name="stderr", text="c\n"),
           nbformat.v4.new_output("display_data", data={"text/plain": "x"}),
           nbformat.v4.new_output("stream", name="stdout", text="d\n")]
    merged = book.merge_streams(out)
    assert [o.get("name") for o in merged] == ["stdout", "stderr", None, "stdout"]
    assert merged[0]["text"] == "a\nb\n"


PROSE_LINK_PAGES = ["chapters/primer.ipynb", "chapters/scale_symmetry.ipynb",
                    "chapters/yin_gaussian.ipynb", "chapters/general_inputs.ipynb",
                    "chapters/misspecified.ipynb", "chapters/rerun.md", "chapters/reproducibility.md"]


@pytest.mark.parametrize("page", PROSE_LINK_PAGES)
def test_doc_links_have_prose_text(page):
    """`{doc}` links carry explicit link text (a bare one renders the target page's title,
    e.g. the book's title in mid-sentence); figures are captioned by myst-nb, not by hand."""
    text = (ROOT / page).read_text()
    assert not re.findall(r"\{doc\}`[^`<]*`", text), "write {doc}`link text <target>`"
    assert not re.search(r"\*\*Figure \d+\.\*\*", text), "use a myst-nb figure caption"
