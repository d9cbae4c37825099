"""``docs/results.md``: the measured tables, each written by the benchmark command that measured it.

A benchmark script ends with :func:`publish` (``--publish``): its table replaces the section of the
same name, between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``, under a caption with
the date, the commit, the machine, the load average and the command. Nothing else in the page is
touched, so the page is the latest measurement of each table. A section may carry headline rows
(``headline``: what, value); ``python benchmarks/results_page.py`` collects them, the latest measured
first, into the README's headline table (between ``<!-- results:headline -->`` markers), each linking to
its section; :func:`publish` refreshes it whenever it writes the repository's page.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import time
from pathlib import Path

from recbole_ext.bench import git_commit, machine
from recbole_ext.outputs import write_atomically


REPO_ROOT = Path(__file__).resolve().parent.parent
PAGE = REPO_ROOT / "docs" / "results.md"
README = REPO_ROOT / "README.md"
HEADER = ("# Results\n\nEvery table below is written by the command in its caption (`--publish`); "
          "a table is replaced only when its command runs again.\n")

COMMIT_AT_START = git_commit()  # imported by benchmark scripts as they start


def markers(name: str) -> tuple[str, str]:
    return f"<!-- results:{name} -->", f"<!-- /results:{name} -->"


def caption(command: str | None = None, load_before: float | None = None) -> str:
    """Date, commit, machine, load average and command of a measurement made now.

    The commit is the one the measuring process started at (a long benchmark may outlive it).
    """
    info = machine()
    where = f"{info.get('cores')} cores {info.get('cpu')}"
    if info.get("cpu_model"):  # two CPUs of one name may differ in bfloat16 (precision auto trains fp32 without it)
        where += f" ({info['cpu_model']}, {'with' if info.get('cpu_bf16') else 'without'} AVX-512-bf16 / AMX)"
    where += f", {info['ram_gib']} GiB" if "ram_gib" in info else ""
    if info.get("gpu") not in (None, "none"):
        where += f", GPU {info['gpu']}"
    load_now = os.getloadavg()[0]
    load = f"{load_before:.2f} before, {load_now:.2f} after" if load_before is not None else f"{load_now:.2f}"
    command = command or " ".join(shlex.quote(arg) for arg in ["python", *sys.argv])
    return (f"**Measured** {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {COMMIT_AT_START}, {where}, "
            f"Python {info.get('python')}, torch {info.get('torch')}; load average {load}. "
            f"Command: `{command}`")


def publish(name: str, title: str, body: str, load_before: float | None = None, page: Path = PAGE,
            command: str | None = None, headline: list[tuple[str, str]] = ()) -> None:
    """Write ``body`` (markdown) as section ``name`` of ``page`` under ``title`` and a :func:`caption`."""
    begin, end = markers(name)
    rows = "".join(f"<!-- headline: {what} | {value} -->\n" for what, value in headline)
    section = (f"{begin}\n<a id=\"{name}\"></a>\n\n## {title}\n\n{caption(command, load_before)}\n\n"
               f"{body.strip()}\n{rows}{end}")
    text = page.read_text() if page.is_file() else HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + f"\n\n{section}\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(page, text)
    print(f"published: {page} (section {name})")
    if page == PAGE and README.is_file():
        copy_headline(README, page)
        print(f"refreshed: {README} (headline table)")


def headline_table(page: Path = PAGE, link_prefix: str = "docs/results.md") -> str:
    """The headline rows of every section of ``page`` as one markdown table, the latest measured first (a
    section's rows in their own order; sections measured at the same minute in page order)."""
    sections = []
    for name, body in re.findall(r"<!-- results:([\w-]+) -->(.*?)<!-- /results:\1 -->", page.read_text(), re.S):
        measured = re.search(r"\*\*Measured\*\* (\S+ \S+)", body)
        when = measured.group(1) if measured else ""
        rows = [f"| {what} | {value} | [{when.split()[0] if when else 'how'}]({link_prefix}#{name}) |"
                for what, value in re.findall(r"<!-- headline: (.*?) \| (.*?) -->", body)]
        sections.append((when, rows))
    sections.sort(key=lambda section: section[0], reverse=True)  # stable: equal times keep page order
    return "\n".join(["| result | value | measured |", "|---|---|---|", *(row for _, rows in sections for row in rows)])


def copy_headline(readme: Path, page: Path = PAGE) -> None:
    """Put :func:`headline_table` into ``readme`` between its ``results:headline`` markers."""
    begin, end = markers("headline")
    text = readme.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"error: {readme} has no '{begin}' ... '{end}' block to fill.")
    table = headline_table(page, os.path.relpath(page, readme.parent))
    text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: f"{begin}\n{table}\n{end}", text, flags=re.S)
    readme.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Collect docs/results.md's headline rows into the README's table.")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    copy_headline(args.readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
