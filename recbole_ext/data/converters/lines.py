"""Raw input files read as lines: plain or gzip (detected from the first bytes, not the name), in
blocks cut at line ends, inflated by ``igzip`` (python-isal) in a background thread so that
decompression overlaps with parsing on a second core. Every converter reads its files here.
"""

from __future__ import annotations

import queue
import sys
import threading
import zlib
from pathlib import Path
from typing import Iterator

from isal import igzip, isal_zlib

from .atomic import ConvertError

_CHUNK = 1 << 21  # 2 MiB per read: one inflate call per GIL hand-over keeps the thread busy


def _iter_blocks(path: Path) -> Iterator[bytes]:
    """The file's bytes in blocks, gunzipped when it starts with the gzip magic. ``igzip``
    (python-isal, ~2.5x faster than zlib here) reads several members one after the other and
    checks each member's CRC and length, as :mod:`gzip` does; a stream that ends early raises
    ``EOFError``, a bad one ``OSError`` (``BadGzipFile``) or ``isal_zlib.error``."""
    try:
        with open(path, "rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
        f = igzip.open(path, "rb") if gz else open(path, "rb")
    except OSError as e:
        raise ConvertError(f"{path}: cannot open: {e}") from e
    with f:
        while block := f.read(_CHUNK):
            yield block


def _prefetch(blocks: Iterator[bytes], depth: int = 4) -> Iterator[bytes]:
    """Run ``blocks`` in a background thread: igzip inflates without the GIL, so decompression
    overlaps with parsing on a second core. Errors are raised here, in order."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(value: object) -> bool:
        """Hand ``value`` to the reading thread; False once it asked to stop."""
        while not stop.is_set():
            try:
                q.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for block in blocks:
                if not put(block):
                    return
            item: object = done
        except BaseException as e:  # handed to the reading thread
            item = e
        put(item)

    thread = threading.Thread(target=work, name="gunzip", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def iter_chunks(path: Path, progress: bool | None = False) -> Iterator[tuple[int, int, bytes]]:
    """(number of lines before the chunk, number of lines in it, chunk of whole lines each ending
    in ``\\n``) of a plain or gzip file, about 2 MiB each. A truncated or corrupt gzip stream raises
    :class:`ConvertError` naming the last good line."""
    lineno = 0
    rest = b""
    bar = None
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm import tqdm

        bar = tqdm(desc=Path(path).name, unit="lines", unit_scale=True, mininterval=1.0)
    try:
        for block in _prefetch(_iter_blocks(path)):
            cut = block.rfind(b"\n") + 1
            if not cut:
                rest += block
                continue
            chunk, rest = rest + block[:cut], block[cut:]
            n = chunk.count(b"\n")
            yield lineno, n, chunk
            lineno += n
            if bar is not None:
                bar.update(n)
        if rest:
            yield lineno, 1, rest + b"\n"  # a last line without line break
    except (EOFError, OSError, zlib.error, isal_zlib.error) as e:
        raise ConvertError(
            f"{path}: compressed data is truncated or corrupt after line {lineno} ({e}); "
            "nothing was written"
        ) from e
    finally:
        if bar is not None:
            bar.close()


def iter_lines(path: Path, progress: bool | None = False) -> Iterator[tuple[int, bytes]]:
    """(line number, line without line ending) of a plain or gzip file, empty lines skipped."""
    for before, n, chunk in iter_chunks(path, progress):
        for lineno, line in enumerate(chunk.split(b"\n", n)[:n], before + 1):
            if line[-1:] == b"\r":
                line = line[:-1]
            if line and not line.isspace():
                yield lineno, line
