"""Raw dataset files -> rows for RecBole atomic files.

``atomic.py`` holds the streaming writer (temporary files renamed at the end), the
:class:`Report` of what was read, written and skipped, and the k-core filter; ``lines.py`` reads plain or
gzip files; ``movielens.py``, ``goodreads.py``, ``amazon.py``, ``steam.py`` and ``clicks.py`` (RSC15,
Retailrocket) turn each source's files into rows. The command and the Python entry point that tie them
together are in :mod:`recbole_ext.convert`::

    from recbole_ext.convert import convert
    report = convert("ml-100k", "/data/ml-100k.zip", "atomic_data")   # -> atomic_data/ml100k/
    print(report.summary())
"""

from .atomic import INTER_FIELDS, AtomicFileSet, ConvertError, Report, format_value, write_inter

#: What ``python -m recbole_ext.convert`` converts: source -> (the file it expects, where it is published).
SOURCE_FILES = {
    "ml-100k": ("u.data, u.item, u.user: a folder or ml-100k.zip", "https://grouplens.org/datasets/movielens/100k/"),
    "ml-1m": ("ratings.dat, movies.dat, users.dat: a folder or ml-1m.zip", "https://grouplens.org/datasets/movielens/1m/"),
    "ml-10m": ("ratings.dat, movies.dat: a folder or ml-10m.zip", "https://grouplens.org/datasets/movielens/10m/"),
    "ml-20m": ("ratings.csv, movies.csv: a folder or ml-20m.zip", "https://grouplens.org/datasets/movielens/20m/"),
    "ml-25m": ("ratings.csv, movies.csv: a folder or ml-25m.zip", "https://grouplens.org/datasets/movielens/25m/"),
    "ml-32m": ("ratings.csv, movies.csv: a folder or ml-32m.zip", "https://grouplens.org/datasets/movielens/32m/"),
    "goodreads": ("a UCSD Book Graph reviews/interactions .json[.gz] or goodreads_interactions.csv",
                  "https://mengtingwan.github.io/data/goodreads.html"),
    "amazon": ("a ratings .csv (2014/2018), a 5-core reviews .json.gz (2014/2018) or a 2023 .jsonl[.gz]",
               "https://cseweb.ucsd.edu/~jmcauley/datasets/amazon_v2/ and https://amazon-reviews-2023.github.io/"),
    "steam": ("steam_reviews.json.gz (one Python-literal dict per line)",
              "https://cseweb.ucsd.edu/~jmcauley/datasets.html#steam_data"),
    "rsc15": ("yoochoose-clicks.dat (RecSys Challenge 2015)", "https://recsys.acm.org/recsys15/challenge/ (Kaggle mirror)"),
    "retailrocket": ("events.csv", "https://www.kaggle.com/datasets/retailrocket/ecommerce-dataset"),
}
SOURCES = tuple(SOURCE_FILES)
DEFAULT_NAMES = {  # the dataset name each source is written under (never one RecBole downloads itself)
    **{source: source.replace("-", "") for source in SOURCES},
    "goodreads": "goodreads-<schema>",  # goodreads-reviews or goodreads-interactions
}

__all__ = ["INTER_FIELDS", "AtomicFileSet", "ConvertError", "Report", "format_value", "write_inter",
           "SOURCES", "SOURCE_FILES", "DEFAULT_NAMES"]
