"""Raw dataset files -> rows for RecBole atomic files.

``atomic.py`` holds the streaming writer (temporary files renamed at the end) and the
:class:`Report` of what was read, written and skipped; ``movielens.py`` and ``goodreads.py``
turn each source's files into rows. The command and the Python entry point that tie them
together are in :mod:`recbole_ext.convert`::

    from recbole_ext.convert import convert
    report = convert("ml-100k", "/data/ml-100k.zip", "atomic_data")   # -> atomic_data/ml100k/
    print(report.summary())
"""

from .atomic import INTER_FIELDS, AtomicFileSet, ConvertError, Report, format_value, write_inter

SOURCES = ("ml-100k", "ml-1m", "goodreads")  # what ``python -m recbole_ext.convert`` converts
DEFAULT_NAMES = {  # the dataset name each source is written under
    "ml-100k": "ml100k",
    "ml-1m": "ml1m",
    "goodreads": "goodreads-<schema>",  # goodreads-reviews or goodreads-interactions
}

__all__ = ["INTER_FIELDS", "AtomicFileSet", "ConvertError", "Report", "format_value", "write_inter",
           "SOURCES", "DEFAULT_NAMES"]
