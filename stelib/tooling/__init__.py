"""The book's tooling: chapter parameters and their specs, the ``stelib`` command line (and
what its commands share: the book, a chapter, its spec, its runs, its kernel), executing and
building the book, parameter sweeps. May import from every layer. Import the
modules by their short names (``stelib.cli``, ``python -m stelib.book``)."""
