"""Read a RecBole ``.inter`` file into flat columns, with a binary cache beside it.

RecBole reads atomic files with pandas' Python engine: one Python string per token cell, minutes and
gigabytes on tens of millions of rows. Here the file is parsed block by block by pyarrow's streaming
CSV reader straight into a dictionary encoding (pyarrow is used because it parses tokens into
``int32`` codes plus one vocabulary per block without a Python object per row, which neither
pandas' C nor Python engine does); each block's vocabulary is mapped to the file's codes, so memory
is the result plus one block:

==============  ==============================================================================
token column    ``codes`` int32 [N] (index into ``vocabulary``, -1 where the cell is empty) and
                ``vocabulary`` [V] of str, in order of first appearance in the file
float column    float64 [N] (NaN where the cell is empty); never float32, never rescaled
==============  ==============================================================================

Rows keep the file's order (blank lines skipped). Each parsed column is cached as ``.npy`` files in
``NAME.inter.cache/`` beside the file, so a second run maps them back in a fraction of a second.
The cache is verified before it is used, never trusted blindly:

* it records what it was built from: the file's size, modification time and a SHA-256 of its
  content (the whole file up to ``FULL_HASH_BYTES``, 1 GiB: at most ~0.6 s, ~3% of parsing such a
  file; above that the first and last ``EDGE_HASH_BYTES`` plus the size), so a file edited in place
  with the same size and time is noticed;
* a CRC-32 of every array it writes, checked on load (~4 GB/s: a zeroed or overwritten part of an
  array is found before any of it is used);
* ranges: every code within its vocabulary (or -1), every column ``n_rows`` long.

Any mismatch rebuilds the cache, with one warning line saying why. A cache that is damaged and
cannot be rebuilt (a read-only folder) is refused with one line naming the folder to delete; a
read-only folder without a cache is read without one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recbole_ext.errors import DataError
from recbole_ext.outputs import atomic_path, write_atomically

CACHE_VERSION = 3  # 2: codes numbered by first appearance in the file; 3: content hash, array checksums
CACHE_SUFFIX = ".cache"
FULL_HASH_BYTES = 1 << 30  # files up to this size are hashed whole
EDGE_HASH_BYTES = 64 << 20  # larger ones: their first and last 64 MiB (and the size)
logger = logging.getLogger(__name__)


@dataclass
class InterColumns:
    """The parsed columns of one ``.inter`` file (see the module docstring)."""

    n_rows: int
    types: dict[str, str]  # name -> atomic type ("token" or "float"), in the header's order
    codes: dict[str, np.ndarray] = field(default_factory=dict)  # token columns: int32 [N]
    vocabularies: dict[str, np.ndarray] = field(default_factory=dict)  # token columns: str [V]
    floats: dict[str, np.ndarray] = field(default_factory=dict)  # float columns: float64 [N]


def read_header(path: Path, separator: str, encoding: str) -> list[tuple[str, str]]:
    """``[(name, type), ...]`` of the file's header line."""
    with open(path, encoding=encoding) as f:
        header = f.readline().rstrip("\r\n")
    return [tuple(cell.split(":", 1)) for cell in header.split(separator)]  # type: ignore[misc]


def read_inter_columns(
    path: str | Path, names: list[str], separator: str = "\t", encoding: str = "utf-8", use_cache: bool = True
) -> InterColumns:
    """The columns ``names`` of the ``.inter`` file ``path`` (token and float columns only)."""
    path = Path(path)
    header = dict(read_header(path, separator, encoding))
    types = {name: header[name] for name in header if name in names}
    cache = _Cache(path, separator, encoding) if use_cache else None
    result, problem = cache.load(types) if cache else (None, None)
    if problem:
        logger.warning(f"Rebuilding the cache {cache.directory}: {problem}.")
    if result is None:
        result = _parse(path, types, separator, encoding)
        if cache:
            cache.save(result, damaged=problem)
    return result


def content_hash(path: Path) -> str:
    """SHA-256 of the file (of its size and first and last ``EDGE_HASH_BYTES`` above ``FULL_HASH_BYTES``)."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= FULL_HASH_BYTES:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
            return "sha256:" + digest.hexdigest()
        digest.update(str(size).encode())
        digest.update(f.read(EDGE_HASH_BYTES))
        f.seek(size - EDGE_HASH_BYTES)
        digest.update(f.read(EDGE_HASH_BYTES))
    return f"sha256-edges-{EDGE_HASH_BYTES}:" + digest.hexdigest()


def checksum(array: np.ndarray) -> int:
    """CRC-32 of an array's bytes (a memory map is read, not copied)."""
    return zlib.crc32(np.ascontiguousarray(array).reshape(-1).view(np.uint8))


BLOCK_BYTES = 16 << 20  # bytes of the file parsed at a time


def _parse(path: Path, types: dict[str, str], separator: str, encoding: str) -> InterColumns:
    """Parse the file block by block (pyarrow's streaming CSV reader): memory is the result
    (4 bytes per token cell, 8 per float cell), one block, and the vocabularies."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header = read_header(path, separator, encoding)
    column_names = [f"{name}:{kind}" for name, kind in header]
    wanted = {f"{name}:{kind}": name for name, kind in types.items()}
    column_types = {
        full: (pa.dictionary(pa.int32(), pa.string()) if kind == "token" else pa.float64())
        for full, (name, kind) in zip(wanted, types.items())
    }
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=column_names, skip_rows=1, encoding=encoding,
                                       block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(delimiter=separator, quote_char='"', double_quote=True),
        convert_options=pacsv.ConvertOptions(
            column_types=column_types,
            include_columns=list(wanted),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    code_of: dict[str, dict[str, int]] = {name: {} for name, kind in types.items() if kind == "token"}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in types}
    n_rows = 0
    for batch in reader:
        n_rows += batch.num_rows
        for full, column in zip(batch.schema.names, batch.columns):
            name = wanted[full]
            if name in code_of:  # the block's own dictionary -> codes by first appearance in the file
                codes = code_of[name]
                tokens = column.dictionary.to_pylist()
                block_codes = np.fromiter((codes.setdefault(token, len(codes)) for token in tokens),
                                          dtype=np.int32, count=len(tokens))
                indices = column.indices.fill_null(-1) if column.null_count else column.indices
                parts[name].append(np.append(block_codes, np.int32(-1))[indices.to_numpy(zero_copy_only=False)])
            else:
                parts[name].append(column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
    result = InterColumns(n_rows=n_rows, types=types)
    for name, kind in types.items():
        if kind == "token":
            result.codes[name] = np.concatenate(parts.pop(name)) if n_rows else np.zeros(0, dtype=np.int32)
            vocabulary = list(code_of.pop(name))  # dict order: the codes' order
            result.vocabularies[name] = np.array(vocabulary, dtype=str) if vocabulary else np.zeros(0, dtype=str)
        else:
            result.floats[name] = np.concatenate(parts.pop(name)) if n_rows else np.zeros(0, dtype=np.float64)
    return result


class _Cache:
    """``NAME.inter.cache/``: one ``.npy`` per parsed array and ``meta.json`` naming the source and
    each array's checksum (see the module docstring)."""

    def __init__(self, path: Path, separator: str, encoding: str) -> None:
        self.path = path
        self.directory = path.with_name(path.name + CACHE_SUFFIX)
        stat = path.stat()
        self.source = {"version": CACHE_VERSION, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                       "separator": separator, "encoding": encoding}
        self._content: str | None = None

    def content(self) -> str:
        if self._content is None:
            self._content = content_hash(self.path)
        return self._content

    def _meta(self) -> tuple[dict | None, str | None]:
        """(meta, None) for a cache of this very file; (None, why not) for another; (None, None) for none."""
        if not self.directory.exists():
            return None, None
        try:
            meta = json.loads((self.directory / "meta.json").read_text())
            source = dict(meta["source"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, "its meta.json is missing or unreadable"
        content = source.pop("content", None)
        if source != self.source:
            changed = [key for key in self.source if source.get(key) != self.source[key]]
            return None, f"{self.path.name} or the way it is read changed ({', '.join(changed)})"
        if content != self.content():
            return None, f"{self.path.name} was edited in place (same size and time, other content)"
        return meta, None

    def load(self, types: dict[str, str]) -> tuple[InterColumns | None, str | None]:
        """(the cached columns, None), or (None, why the cache cannot be used; None if there is none)."""
        meta, problem = self._meta()
        if meta is None:
            return None, problem
        if any(meta["columns"].get(name) != kind for name, kind in types.items()):
            return None, None  # columns not cached yet: added by save()
        n_rows = int(meta["n_rows"])
        result = InterColumns(n_rows=n_rows, types=types)
        checksums = meta.get("checksums", {})
        try:
            for name, kind in types.items():
                files = ([f"{name}.codes.npy", f"{name}.vocabulary.npy"] if kind == "token" else [f"{name}.float.npy"])
                arrays = [np.load(self.directory / file, mmap_mode="r" if not file.endswith("vocabulary.npy") else None)
                          for file in files]
                for file, array in zip(files, arrays):
                    if checksums.get(file) != checksum(array):
                        return None, f"{file} does not match its checksum (damaged or overwritten)"
                if len(arrays[0]) != n_rows:
                    return None, f"{files[0]} has {len(arrays[0])} rows, not {n_rows}"
                if kind == "token":
                    codes, vocabulary = arrays
                    if n_rows and (int(codes.min()) < -1 or int(codes.max()) >= len(vocabulary)):
                        return None, f"{files[0]} holds codes outside its vocabulary of {len(vocabulary)}"
                    result.codes[name], result.vocabularies[name] = codes, vocabulary
                else:
                    result.floats[name] = arrays[0]
        except (OSError, ValueError, EOFError) as error:
            return None, f"an array cannot be read ({type(error).__name__})"
        return result, None

    def save(self, columns: InterColumns, damaged: str | None = None) -> None:
        """Add ``columns`` to the cache (a stale or damaged cache is replaced). Skipped where the folder is
        not writable, unless a damaged cache would stay behind: then one line naming it to delete."""
        try:
            meta, _ = (None, None) if damaged else self._meta()
            if meta is None:
                shutil.rmtree(self.directory, ignore_errors=True)
                self.directory.mkdir(exist_ok=True)
                meta = {"source": {**self.source, "content": self.content()}, "n_rows": columns.n_rows,
                        "columns": {}, "checksums": {}}
            arrays = {f"{n}.codes.npy": a for n, a in columns.codes.items()}
            arrays.update({f"{n}.vocabulary.npy": a for n, a in columns.vocabularies.items()})
            arrays.update({f"{n}.float.npy": a for n, a in columns.floats.items()})
            for file_name, array in arrays.items():
                array = np.ascontiguousarray(array)
                with atomic_path(self.directory / file_name) as tmp, open(tmp, "wb") as f:
                    np.save(f, array)
                meta["checksums"][file_name] = checksum(array)
            meta["columns"].update(columns.types)
            write_atomically(self.directory / "meta.json", json.dumps(meta, indent=1))
        except OSError as error:
            if damaged and self.directory.exists():
                raise DataError(f"The cache {self.directory} is damaged ({damaged}) and cannot be rebuilt here "
                                f"({error.strerror or type(error).__name__}): delete it (rm -r '{self.directory}') "
                                "or make its folder writable; the data itself is read from "
                                f"{self.path.name}.") from None
