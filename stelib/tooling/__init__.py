"""The book's tooling: chapter parameters and their specs, the ``stelib`` command line,
executing and building the book, parameter sweeps. May import from every layer. Import the
modules by their short names (``stelib.cli``, ``python -m stelib.book``)."""
