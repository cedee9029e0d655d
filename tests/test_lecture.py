"""The chapters' code reads like a lecture: every code cell a reader sees is short.

A visible cell is a code cell without one of the tags that hide or remove its input. The
parameters cell is the one exception: it is the chapter's interface, one parameter a line, and
tests/test_params.py checks it against the chapter's spec; its length is the number of
parameters the chapter has.
"""

from __future__ import annotations

import nbformat
import pytest

from stelib import book

MAX_LINES = 15
HIDDEN = {"hide-input", "remove-input", "hide-cell", "remove-cell"}


def visible_cells(nb) -> list[tuple[int, list[str]]]:
    """(index, lines) of every code cell whose input a reader sees, the parameters cell excepted."""
    cells = []
    for i, cell in enumerate(nb.cells):
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type != "code" or tags & HIDDEN or "parameters" in tags:
            continue
        cells.append((i, cell.source.rstrip("\n").splitlines()))
    return cells


def long_cells(nb, limit: int = MAX_LINES) -> dict[int, int]:
    return {i: len(lines) for i, lines in visible_cells(nb) if len(lines) > limit}


@pytest.mark.parametrize("chapter", [ch.name for ch in book.chapters()])
def test_every_visible_code_cell_is_short(chapter):
    path = next(ch.path for ch in book.chapters() if ch.name == chapter)
    nb = nbformat.read(str(path), as_version=4)
    assert visible_cells(nb), f"{chapter}: no visible code cell at all"
    too_long = long_cells(nb)
    assert not too_long, (f"{chapter}: visible code cells longer than {MAX_LINES} lines "
                          f"(cell index: lines): {too_long}; move the logic into stelib or "
                          "hide a cell that only draws with the tag hide-input")


def test_the_check_counts_lines_and_skips_hidden_and_parameters_cells():
    code = nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(cells=[
        code("\n".join(["x = 1"] * 16)),                                   # 16 lines: too long
        code("\n".join(["x = 1"] * 15) + "\n\n"),                          # 15 lines + blanks
        code("\n".join(["x = 1"] * 40), metadata={"tags": ["hide-input"]}),
        code("\n".join(["x = 1"] * 40), metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("\n".join(["text"] * 40)),
    ])
    assert long_cells(nb) == {0: 16}
    assert [i for i, _ in visible_cells(nb)] == [0, 1]


@pytest.mark.parametrize("chapter", [ch.name for ch in book.chapters()])
def test_every_captioned_figure_cell_stored_its_figure(chapter):
    """A cell with a figure caption (myst-nb) has an image among its stored outputs: a cell
    that silently drew nothing (a switched matplotlib backend, say) fails here, not only as an
    undefined figure label in the build."""
    path = next(ch.path for ch in book.chapters() if ch.name == chapter)
    nb = nbformat.read(str(path), as_version=4)
    empty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and c.metadata.get("mystnb", {}).get("figure")
             and not any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert not empty, f"{chapter}: figure cells without an image: {empty}"


MAX_COLUMNS = 88  # what a code cell shows at 1366 px in the book's code font


@pytest.mark.parametrize("chapter", [ch.name for ch in book.chapters()])
def test_every_code_line_fits_the_page(chapter):
    """No code line of a chapter, hidden or not, needs sideways scrolling (the browser test sees
    only the lines of the built pages; this one sees every cell, before any build)."""
    path = next(ch.path for ch in book.chapters() if ch.name == chapter)
    nb = nbformat.read(str(path), as_version=4)
    wide = [(i, len(line)) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for line in c.source.splitlines() if len(line) > MAX_COLUMNS]
    assert not wide, f"{chapter}: (cell, characters) of lines over {MAX_COLUMNS}: {wide}"


def _shown_text(output) -> str:
    """The text a reader sees as a monospaced block: printed text, and the plain-text form of a
    value that has no richer form (HTML tables, images and Markdown are laid out by the page)."""
    if output.output_type == "stream":
        return output.text
    data = output.get("data", {})
    if "text/plain" in data and not {"text/html", "image/png", "text/markdown"} & set(data):
        return data["text/plain"]
    return ""


@pytest.mark.parametrize("chapter", [ch.name for ch in book.chapters()])
def test_every_output_line_fits_the_page(chapter):
    """No stored text output line needs sideways scrolling either: printed tables and summaries
    are laid out for the same 88 columns as the code (cells whose output is removed excepted)."""
    path = next(ch.path for ch in book.chapters() if ch.name == chapter)
    nb = nbformat.read(str(path), as_version=4)
    wide = [(i, len(line)) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            and not {"remove-output", "remove-cell"} & set(c.metadata.get("tags", []))
            for o in c.outputs for line in _shown_text(o).splitlines() if len(line) > MAX_COLUMNS]
    assert not wide, f"{chapter}: (cell, characters) of output lines over {MAX_COLUMNS}: {wide}"
