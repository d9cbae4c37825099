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
``NAME.inter.cache/`` beside the file, so a second run maps them back in a fraction of a second;
the cache remembers the file's size and modification time and is rebuilt when either changes. A
folder that cannot be written to (a read-only copy) is read without a cache.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CACHE_VERSION = 2  # 2: codes numbered by first appearance in the file (the block-wise parse)
CACHE_SUFFIX = ".cache"


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
    result = cache.load(types) if cache else None
    if result is None:
        result = _parse(path, types, separator, encoding)
        if cache:
            cache.save(result)
    return result


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
    """``NAME.inter.cache/``: one ``.npy`` per parsed array and ``meta.json`` naming the source."""

    def __init__(self, path: Path, separator: str, encoding: str) -> None:
        self.directory = path.with_name(path.name + CACHE_SUFFIX)
        stat = path.stat()
        self.source = {"version": CACHE_VERSION, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                       "separator": separator, "encoding": encoding}

    def _meta(self) -> dict | None:
        try:
            meta = json.loads((self.directory / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        return meta if meta.get("source") == self.source else None

    def load(self, types: dict[str, str]) -> InterColumns | None:
        meta = self._meta()
        if meta is None or any(meta["columns"].get(name) != kind for name, kind in types.items()):
            return None
        result = InterColumns(n_rows=int(meta["n_rows"]), types=types)
        try:
            for name, kind in types.items():
                if kind == "token":
                    result.codes[name] = np.load(self.directory / f"{name}.codes.npy", mmap_mode="r")
                    result.vocabularies[name] = np.load(self.directory / f"{name}.vocabulary.npy")
                else:
                    result.floats[name] = np.load(self.directory / f"{name}.float.npy", mmap_mode="r")
        except (OSError, ValueError):
            return None
        return result

    def save(self, columns: InterColumns) -> None:
        """Add ``columns`` to the cache (a stale cache is replaced); silently skipped where not writable."""
        try:
            meta = self._meta()
            if meta is None:
                shutil.rmtree(self.directory, ignore_errors=True)
                self.directory.mkdir(exist_ok=True)
                meta = {"source": self.source, "n_rows": columns.n_rows, "columns": {}}
            arrays = {f"{n}.codes.npy": a for n, a in columns.codes.items()}
            arrays.update({f"{n}.vocabulary.npy": a for n, a in columns.vocabularies.items()})
            arrays.update({f"{n}.float.npy": a for n, a in columns.floats.items()})
            for file_name, array in arrays.items():
                tmp = self.directory / f"{file_name}.{os.getpid()}.tmp"
                with open(tmp, "wb") as f:
                    np.save(f, np.ascontiguousarray(array))
                os.replace(tmp, self.directory / file_name)
            meta["columns"].update(columns.types)
            tmp = self.directory / f"meta.json.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(meta, indent=1))
            os.replace(tmp, self.directory / "meta.json")
        except OSError:
            return
