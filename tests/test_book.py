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
# Every host name but 127.0.0.1 resolves to nothing, so a request that would leave the machine
# fails at once in the browser itself (the tests record it as a problem); no request goes
# through Python on its way (page.route), which once left a page's load state hanging.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
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


def _build_from_stored_outputs(out: Path, **kw) -> Path:
    """Build the book from stored outputs (no execution) into ``out``; ``out/_build``."""
    config = out / "_config.yml"
    text = (ROOT / "_config.yml").read_text()
    text, n = re.subn(r"execute_notebooks:\s*\w+", 'execute_notebooks: "off"', text)
    assert n == 1
    config.write_text(text)
    rc = book.build(config=config, output=out, **kw)
    assert rc == 0, "book build failed (the chapters it names are listed above)"
    return out / "_build"


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """The book (the teacher's edition) built from stored outputs into a temporary folder."""
    return _build_from_stored_outputs(tmp_path_factory.mktemp("book")) / "html"


@pytest.fixture(scope="session")
def student_built(tmp_path_factory) -> Path:
    """``stelib build --student --pdf`` from stored outputs: the folder holding ``html``, ``pdf``
    and everything else the build wrote (executed notebooks, doctrees)."""
    return _build_from_stored_outputs(tmp_path_factory.mktemp("student"), student=True, pdf=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per request on stderr otherwise
        pass


@pytest.fixture(scope="session")
def server(built):
    handler = functools.partial(_QuietHandler, directory=str(built))
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


# Generous: under `make test` the browser shares 2 cores with the other pytest worker, and the
# yin_gaussian page (interactive figures, MathJax) once took over Playwright's default 30 s.
PAGE_TIMEOUT_MS = 120_000


def _new_page(browser, **kw):
    page = browser.new_page(**kw)
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    return page


def _watch(page, local: tuple[str, ...]) -> tuple[list[str], set]:
    """Record on ``page`` what goes wrong: requests not starting with one of ``local``, failed
    requests, HTTP errors, console and page errors. Returns that list and the set of the page's
    requests still in flight, which :func:`_settle` waits to empty."""
    problems: list[str] = []
    pending: set = set()

    def request(r):
        pending.add(r)
        if not r.url.startswith(local):
            problems.append(f"request leaves the machine: {r.url}")

    def failed(r):
        pending.discard(r)
        if not _ignored(r.url):
            problems.append(f"failed: {r.url}")

    page.on("request", request)
    page.on("requestfinished", lambda r: pending.discard(r))  # a function playwright can tag
    page.on("requestfailed", failed)
    page.on("console", lambda m: m.type == "error" and not _ignored(m.location.get("url", ""))
            and problems.append(f"console error: {m.text} ({m.location.get('url')})"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: r.status >= 400 and not _ignored(r.url)
            and problems.append(f"HTTP {r.status}: {r.url}"))
    return problems, pending


def _settle(page, pending: set, quiet_ms: int = 500, tick_ms: int = 100) -> None:
    """Wait until none of the page's requests has been in flight for ``quiet_ms`` (what
    Playwright's "networkidle" waits for); past PAGE_TIMEOUT_MS, fail naming those in flight."""
    waited = quiet = 0
    while quiet < quiet_ms:
        if waited > PAGE_TIMEOUT_MS:
            pytest.fail(f"requests in flight after {waited // 1000} s: {sorted(r.url for r in pending)[:5]}")
        page.wait_for_timeout(tick_ms)  # the page's events are delivered meanwhile
        waited += tick_ms
        quiet = 0 if pending else quiet + tick_ms


def _open(browser, server, page_path, width=1280):
    """Open a page once its requests have settled; returns it with the problems recorded
    (:func:`_watch`), which go on being recorded while the page is open."""
    page = _new_page(browser, viewport={"width": width, "height": 900})
    problems, pending = _watch(page, (server, "data:"))
    page.goto(f"{server}/{page_path}", wait_until="load")
    _settle(page, pending)
    return page, problems


# ---------------------------------------------------------------------------- browser


@pytest.fixture(scope="module", params=PAGES)
def opened(request, built, server, browser):
    """``(path, page, problems)``: each page of the book opened once, at 1366 px, for both the
    content and the layout checks (pytest runs the tests of one page, then closes it)."""
    assert (built / request.param).exists(), f"{request.param} was not built"
    page, problems = _open(browser, server, request.param, width=1366)
    yield request.param, page, problems
    page.close()


@pytest.mark.book
def test_page_in_browser(opened, built, server):
    page_path, page, problems = opened
    text = page.evaluate(TEXT_CHECK)
    images = page.evaluate(IMAGE_CHECK)
    links = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
    page.wait_for_timeout(200)  # late console messages
    assert not text["raw"], f"raw TeX left in the text: {text['raw'][:5]}"
    assert not text["untypeset"], f"math not typeset by MathJax: {text['untypeset'][:5]}"
    if text["math"]:
        assert text["mathjax"], "the page has math but MathJax did not load"
    assert not images["broken"], f"images that did not load: {images['broken']}"
    bad_links = [u for u in links if u.startswith(server) and not _link_ok(built, server, u)]
    assert not bad_links, f"internal links that do not resolve: {bad_links[:10]}"
    assert not problems, "\n".join(problems)


@pytest.mark.book
def test_the_page_checks_report_a_request_leaving_the_machine(browser, tmp_path):
    """The guard of every page check: a request to another host is reported, fails in the
    browser at once (no name resolves), and the page still settles."""
    local = tmp_path / "page.html"
    local.write_text('<p>x</p><img src="http://example.com/x.png"><img src="missing.png">'
                     '<script src="https://cdn.example.org/a.js"></script>')
    page = _new_page(browser)
    problems, pending = _watch(page, ("file://",))
    try:
        page.goto(local.as_uri(), wait_until="load")
        _settle(page, pending)
    finally:
        page.close()
    for url in ("http://example.com/x.png", "https://cdn.example.org/a.js"):
        assert f"request leaves the machine: {url}" in problems and f"failed: {url}" in problems
    assert f"failed: {(tmp_path / 'missing.png').as_uri()}" in problems and not pending


DESKTOP_CHECK = r"""() => {
  document.querySelectorAll("details").forEach(d => d.open = true);  // hidden inputs count too
  const pres = [...document.querySelectorAll("pre")].filter(p => !p.closest(".cell_output, .output"));
  const shown = e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
                       return r.width > 0 && r.height > 0 && s.visibility !== "hidden"; };
  return {
    pres: pres.length,
    wide: pres.filter(p => p.scrollWidth > p.clientWidth + 1)
      .map(p => `${p.scrollWidth - p.clientWidth}px too wide: ${p.textContent.split("\n")
        .reduce((a, b) => (b.length > a.length ? b : a), "").slice(0, 100)}`),
    search: [...document.querySelectorAll(".search-button__button, form.bd-search, input[type=search]")]
      .filter(shown).map(e => e.parentElement.className || e.className),
  };
}"""


@pytest.mark.book
def test_desktop_layout_at_1366px(opened):
    """At a 1366 px wide window every line of every code block (code cells, shell commands,
    literalincludes: every ``pre`` outside cell outputs) is visible without scrolling
    sideways, and the page shows one search box (the sidebar's), not a header button too."""
    page_path, page, _ = opened
    got = page.evaluate(DESKTOP_CHECK)
    assert not got["wide"], f"code blocks that scroll sideways on {page_path}:\n" + "\n".join(got["wide"])
    if page_path != "search.html":  # the search page has its own search field in the article
        assert len(got["search"]) == 1, f"search boxes shown on {page_path}: {got['search']}"


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


def test_student_edition_hides_solutions(monkeypatch, tmp_path):
    """`stelib build --student` sets sphinx-exercise's hide_solutions (through the extension)."""
    class App:
        srcdir = str(tmp_path)

    config = {"hide_solutions": False, "nb_execution_cache_path": "_build/.jupyter_cache"}
    monkeypatch.setenv(book.STUDENT_ENV, "1")
    book._config_inited(App(), config)
    assert config["hide_solutions"] is True
    assert config["nb_execution_cache_path"] == str(tmp_path / "_build" / ".jupyter_cache")
    monkeypatch.delenv(book.STUDENT_ENV)
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


# ------------------------------------------------------- student's edition, alt text, PDFs

SOLUTION_WORD = re.compile(r"^[A-Za-z][a-z]*(?:-[a-z]+)*[,.;:]?$")  # plain prose, no math or code


def _book_markdown() -> dict[str, list[str]]:
    """``{chapter file: [markdown text, ...]}``: every markdown cell and page of the book."""
    out = {}
    for f in book.toc_files():
        path = next(ROOT / f"{f}{s}" for s in (".ipynb", ".md") if (ROOT / f"{f}{s}").exists())
        if path.suffix == ".md":
            out[path.name] = [path.read_text()]
        else:
            nb = nbformat.read(str(path), as_version=4)
            out[path.name] = [c.source for c in nb.cells if c.cell_type == "markdown"]
    return out


def _solutions() -> tuple[list[tuple[str, str, list[str]]], str]:
    """Every ``{solution}`` block of the book as ``(file, label, body lines)``, read here
    independently of stelib's stripping, and the book's other prose on one line."""
    sols, rest = [], []
    for name, texts in _book_markdown().items():
        for text in texts:
            lines, i = text.splitlines(), 0
            assert text.count("{solution}") == sum("{solution}" in ln for ln in lines)
            while i < len(lines):
                m = re.match(r"\s*(`{3,}|:{3,}|~{3,})\s*\{solution\}\s*(\S*)", lines[i])
                if not m:
                    rest.append(lines[i])
                    i += 1
                    continue
                j = i + 1
                while j < len(lines) and lines[j].strip() != m[1]:
                    j += 1
                sols.append((name, m[2], [ln for ln in lines[i + 1:j] if not ln.startswith(":")]))
                i = j + 1
    return sols, " ".join(" ".join(rest).split())


def _distinctive_sentence(body: list[str], rest: str) -> str:
    """The longest run of at least four plain words on one line of a solution that occurs
    nowhere else in the book's prose ("" if none)."""
    best = ""
    for line in body:
        run: list[str] = []
        for tok in [*line.split(), ""]:
            if SOLUTION_WORD.match(tok):
                run.append(tok)
                continue
            cand = " ".join(run)
            if len(run) >= 4 and len(cand) > len(best) and cand not in rest:
                best = cand
            run = []
    return best


def _plain_text(path: Path) -> str:
    """A built file's text: HTML without tags and entities, everything on one line."""
    import html

    text = path.read_bytes().decode("utf-8", errors="ignore")
    if path.suffix == ".html":
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.split())


@pytest.mark.book
def test_student_edition_has_no_solution(built, student_built):
    """For every solution in the book, a distinctive sentence of it is on its page of the
    teacher's edition (so the check can see it) and in no file of the student's edition: not
    the pages, the downloadable .ipynb/.md sources, the executed notebooks, the doctrees."""
    sols, rest = _solutions()
    assert len(sols) >= 10, f"only {len(sols)} solutions found in the chapters"
    files = [f for f in student_built.rglob("*") if f.is_file() and f.suffix != ".pdf"]
    texts = {f: _plain_text(f) for f in files}
    assert any(f.parent.name == "_sources" or "_sources" in f.parts for f in files)
    for name, label, body in sols:
        sentence = _distinctive_sentence(body, rest)
        assert sentence, f"{name}: solution {label} has no line of four plain words to check"
        teacher_page = built / "chapters" / Path(name).with_suffix(".html").name
        assert sentence in _plain_text(teacher_page), (name, label, sentence)
        leaks = [str(f.relative_to(student_built)) for f, t in texts.items() if sentence in t]
        assert not leaks, f"solution {label} ({sentence!r}) is in the student's edition: {leaks}"
    for f in files:  # nor any solution directive the stripping missed
        if f.suffix in {".ipynb", ".md", ".txt"}:
            assert "{solution" not in f.read_text(errors="ignore"), f


@pytest.mark.book
def test_student_search_index_has_no_solution_word(built, student_built):
    """Words that occur only in solutions are in the teacher's search index and not in the
    student's (Sphinx indexes stems, so this compares stems)."""
    from sphinx.search.en import SearchEnglish

    stem = SearchEnglish({}).stem

    def terms(html: Path) -> set[str]:
        js = (html / "searchindex.js").read_text()
        return set(json.loads(js[js.index("(") + 1:js.rindex(")")])["terms"])

    student_text = " ".join(_plain_text(f) for f in (student_built / "html").rglob("*.html"))
    shown = {stem(w.lower()) for w in re.findall(r"[^\W\d_]+", student_text)}
    sols, _ = _solutions()
    only_in_solutions = {stem(w.lower()) for _, _, body in sols
                         for w in re.findall(r"[^\W\d_]{4,}", " ".join(body))} - shown
    teacher_terms, student_terms = terms(built), terms(student_built / "html")
    assert only_in_solutions & teacher_terms, "no solution-only word in the teacher's index"
    assert not only_in_solutions & student_terms, sorted(only_in_solutions & student_terms)[:20]


def test_strip_solutions():
    """Fenced solutions (backticks, colons, longer fences around nested blocks) and gated
    {solution-start} ... {solution-end} ranges, also across notebook cells, are removed."""
    text = ("# Ex\n\n```{exercise}\n:label: e1\nDo it.\n```\n\n````{solution} e1\n:class: dropdown\n"
            "Secret one.\n```python\nx = 1\n```\n````\n\nAfter.\n:::{solution} e1\nSecret two.\n"
            ":::\nEnd.\n")
    out = book.strip_solutions(text)
    assert "Secret" not in out and "x = 1" not in out
    assert "Do it." in out and "After." in out and out.endswith("End.\n")
    nb = {"cells": [{"cell_type": "markdown", "source": ["Keep.\n", "```{solution-start} e1\n",
                                                         "```\n", "Hidden.\n"]},
                    {"cell_type": "code", "source": "secret = 2\n"},
                    {"cell_type": "markdown", "source": "More hidden.\n```{solution-end}\n```\nKept."},
                    {"cell_type": "code", "source": "shown = 3\n"}]}
    cells = book.strip_notebook_solutions(nb)["cells"]
    joined = json.dumps(cells)
    assert "secret" not in joined and "hidden" not in joined.lower()
    assert "Keep." in joined and "Kept." in joined and "shown = 3" in joined


def test_build_cli_student_and_deprecated_teacher(monkeypatch, capsys):
    """`stelib build --student --pdf` asks for the student's edition with PDFs; `--teacher`
    (its old, inverted name) still does, with a note; the default is the teacher's edition."""
    from stelib.tooling import cli

    calls = []
    monkeypatch.setattr(book, "build", lambda **kw: calls.append(kw) or 0)
    assert cli.main(["--root", str(ROOT), "build", "--student", "--pdf"]) == 0
    assert cli.main(["--root", str(ROOT), "build"]) == 0
    assert cli.main(["--root", str(ROOT), "build", "--teacher"]) == 0
    assert [(c["student"], c["pdf"]) for c in calls] == [(True, True), (False, False), (True, False)]
    assert "--teacher is deprecated" in capsys.readouterr().err


@pytest.mark.book
def test_every_image_has_alt_text(built):
    """Every image of the book has alt text that describes it (its figure's caption), not
    its file name or hash and not nothing."""
    imgs = [(f.name, m) for f in built.rglob("*.html")
            for m in re.findall(r"<img\b[^>]*>", f.read_text(errors="replace"))]
    assert len(imgs) >= 10, f"only {len(imgs)} images in the book"
    for page, tag in imgs:
        alt = re.search(r'\balt="([^"]*)"', tag)
        assert alt and len(alt.group(1).split()) >= 3, f"{page}: no meaningful alt text: {tag[:200]}"
        assert not book.HASH_OR_FILE.search(alt.group(1)), f"{page}: alt is a file name: {tag[:200]}"


def _page_ink(png: bytes) -> float:
    """Share of dark pixels on the white page in a screenshot of Chromium's PDF viewer."""
    import io

    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(int)
    rows = np.where((a > 245).mean(axis=1) > 0.3)[0]
    cols = np.where((a > 245).mean(axis=0) > 0.3)[0]
    if not len(rows) or not len(cols):
        return 0.0  # no page drawn yet
    return float((a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] < 200).mean())


@pytest.mark.book
def test_pdf_handouts(student_built, browser):
    """`stelib build --student --pdf` printed every chapter; each PDF embeds MathJax's fonts
    when its page has math (the math was typeset before printing) and holds at least as many
    images as its page; the first chapter's pages, rendered by Chromium, are not blank."""
    pdfs = student_built / "pdf"
    for ch in book.chapters():
        pdf = pdfs / f"{ch.name}.pdf"
        assert pdf.is_file(), f"no handout for {ch.name}"
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF"), pdf
        page = (student_built / "html" / "chapters" / f"{ch.name}.html").read_text()
        if 'class="math' in page:
            assert re.search(rb"/FontName\s*/\w+\+MathJax_", data), f"{ch.name}: math not typeset"
        n_img = page.count("<img")
        assert len(re.findall(rb"/Subtype\s*/Image", data)) >= n_img, f"{ch.name}: images missing"
    first = pdfs / f"{book.chapters()[0].name}.pdf"
    n_pages = len(re.findall(rb"/Type\s*/Page\b", first.read_bytes()))
    assert n_pages >= 2
    for n in range(1, min(n_pages, 4) + 1):
        page = _new_page(browser, viewport={"width": 850, "height": 1100})
        try:
            page.goto(f"{first.as_uri()}#page={n}&toolbar=0&view=Fit")
            ink = 0.0
            for _ in range(50):  # the viewer draws asynchronously
                ink = _page_ink(page.screenshot())
                if ink > 0.005:
                    break
                page.wait_for_timeout(200)
        finally:
            page.close()
        assert ink > 0.005, f"page {n} of {first.name} renders blank (ink {ink:.4f})"


# ------------------------------------------------------------------ interactive figures

IX_READY = ("() => [...document.querySelectorAll('.stelib-interactive')]"
            ".every(f => f.classList.contains('stelib-js'))")
IX_STATE = r"""(f) => { const gd = f.querySelector('.stelib-interactive-plot');
  return JSON.stringify({d: gd.data.map(t => [t.x, t.y, t.visible]), s: gd.layout.shapes || null,
                         t: gd.layout.title && gd.layout.title.text}); }"""


def _check_interactive(browser, url: str, local: tuple[str, ...]) -> int:
    """Open ``url``, report every request not starting with one of ``local`` (the browser
    resolves no host name, so none leaves) and every error (:func:`_watch`),
    wait for every interactive figure to be drawn, move each slider of each (a click at
    either end of its rail) and require the plotted data or marks to change; the static
    fallback is hidden on screen and shown in print. Returns the number of sliders moved."""
    page = _new_page(browser, viewport={"width": 1366, "height": 900})
    problems, _ = _watch(page, local)
    moved = 0
    try:
        page.goto(url, wait_until="load")
        page.wait_for_function(IX_READY)
        figs = page.locator(".stelib-interactive")
        for i in range(figs.count()):
            fig = figs.nth(i)
            name = fig.get_attribute("data-name")
            assert not fig.locator("img.stelib-interactive-fallback").is_visible(), name
            assert fig.locator("img.stelib-interactive-fallback").get_attribute("alt"), name
            rails = fig.locator("g.slider-container rect.slider-rail-rect")
            assert rails.count() >= 1, f"{name}: no slider"
            for k in range(rails.count()):
                rail = rails.nth(k)
                rail.scroll_into_view_if_needed()
                before = fig.evaluate(IX_STATE)
                changed = False
                for frac in (0.05, 0.95):
                    box = rail.bounding_box()
                    page.mouse.click(box["x"] + frac * box["width"], box["y"] + box["height"] / 2)
                    page.wait_for_timeout(300)
                    if fig.evaluate(IX_STATE) != before:
                        changed = True
                        break
                assert changed, f"{url}: moving slider {k} of {name} changed nothing"
                moved += 1
        page.emulate_media(media="print")
        for i in range(figs.count()):
            assert figs.nth(i).locator("img.stelib-interactive-fallback").is_visible()
            assert not figs.nth(i).locator(".stelib-interactive-plot").is_visible()
    finally:
        page.close()
    assert not problems, "\n".join(problems[:10])
    return moved


@pytest.mark.book
def test_interactive_figures_of_the_book(built, browser):
    """Every page of the book with interactive figures, opened from file:// (a plain copy of
    the build): each slider changes the plot, no request leaves the machine."""
    pages = [f for f in built.rglob("*.html") if book.INTERACTIVE_MARK in f.read_text(errors="ignore")]
    if not pages:
        pytest.skip("no chapter has an interactive figure yet (test_interactive_figures_build "
                    "checks them in a book of their own)")
    for f in pages:
        assert (built / "_static" / "plotly.min.js").is_file()
        assert _check_interactive(browser, f.as_uri(), ("file://", "data:")) >= 1, f


@pytest.mark.book
def test_interactive_figures_build(tmp_path, browser):
    """The four figures of stelib.interactive in a book of their own, built by jupyter-book
    with stelib.book and opened from file:// with no network: plotly.js is shipped under
    _static (only this page loads it), every slider changes the plot, the static fallback
    and its alt text are there for print."""
    builders = ["scale_field", "cgd_runs", "proper_window", "yin_landscape"]
    cells = [nbformat.v4.new_markdown_cell("# Interactive\n"),
             nbformat.v4.new_code_cell("from stelib.analyses import interactive as ix")]
    cells += [nbformat.v4.new_code_cell(f"ix.{b}()") for b in builders]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "chapters").mkdir()
    nbformat.write(nb, str(tmp_path / "chapters" / "ix.ipynb"))
    (tmp_path / "chapters" / "intro.md").write_text("# Intro\n\nNo figures here.\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: chapters/intro\nchapters:\n"
                                       "  - file: chapters/ix\n")
    (tmp_path / "_static").mkdir()
    shutil.copy(ROOT / "_static" / "stelib.css", tmp_path / "_static" / "stelib.css")
    (tmp_path / "_config.yml").write_text(
        "title: t\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: force\n"
        "sphinx:\n  extra_extensions: [sphinx-mathjax-offline, stelib.book]\n"
        "  config:\n    html_static_path: [_static]\n    html_css_files: [stelib.css]\n"
        "    html_context: {default_mode: light}\n")  # as the book's (no console error)
    assert book.build(root=tmp_path) == 0
    html = tmp_path / "_build" / "html"
    page = (html / "chapters" / "ix.html").read_text()
    assert page.count(book.INTERACTIVE_MARK) == len(builders)
    assert "plotly.min.js" in page and "plotly.min.js" not in (html / "chapters" / "intro.html").read_text()
    assert (html / "_static" / "plotly.min.js").stat().st_size > 1_000_000
    assert _check_interactive(browser, (html / "chapters" / "ix.html").as_uri(), ("file://", "data:")) >= 5


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
