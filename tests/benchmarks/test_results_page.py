"""docs/results.md is written by the benchmark commands; the README's headline table is collected from it."""

from __future__ import annotations

import re
import sys

import pytest

from tests.helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))  # the scripts' own import path
import results_page  # noqa: E402


def test_publish_replaces_only_its_own_section_and_captions_it(tmp_path):
    page = tmp_path / "results.md"
    results_page.publish("a", "Table A", "| x |\n|---|\n| 1 |", page=page, command="python a.py",
                         headline=[("A on ml-100k", "0.1000")])
    results_page.publish("b", "Table B", "| y |\n|---|\n| 2 |", page=page, command="python b.py")
    results_page.publish("a", "Table A", "| x |\n|---|\n| 3 |", page=page, command="python a.py --again",
                         headline=[("A on ml-100k", "0.3000")])
    text = page.read_text()
    assert text.count("<!-- results:a -->") == 1 and "| 1 |" not in text and "| 3 |" in text and "| 2 |" in text
    assert text.index("<!-- results:a -->") < text.index("<!-- results:b -->")  # a kept its place
    caption = re.search(r"^\*\*Measured\*\* (.*)$", text, re.M).group(1)
    assert "commit" in caption and "load average" in caption and "python a.py --again" in caption
    table = results_page.headline_table(page)
    assert "| A on ml-100k | 0.3000 |" in table and "(docs/results.md#a)" in table and "0.1000" not in table


def test_the_headline_lists_the_latest_measurement_first(tmp_path):
    """A later table of the same model (a newer commit) comes before the older one; a section keeps its rows' order."""
    page = tmp_path / "results.md"
    sections = [("old", "2026-12-02 08:09", ["SASRecPaper 0.1285", "SASRec 0.0916"]),
                ("new", "2026-12-07 15:53", ["SASRecPaper 0.1767"]),
                ("mid", "2026-12-03 10:00", ["Caser 0.1617"])]
    page.write_text("# Results\n" + "".join(
        f"<!-- results:{name} -->\n**Measured** {when} UTC, commit x.\n"
        + "".join(f"<!-- headline: {row.split()[0]} | {row.split()[1]} -->\n" for row in rows)
        + f"<!-- /results:{name} -->\n" for name, when, rows in sections))
    values = re.findall(r"^\| \w+ \| ([\d.]+) \| \[(\S+)\]", results_page.headline_table(page), re.M)
    assert values == [("0.1767", "2026-12-07"), ("0.1617", "2026-12-03"), ("0.1285", "2026-12-02"),
                      ("0.0916", "2026-12-02")]


def test_copy_headline_fills_the_readme_block(tmp_path):
    page, readme = tmp_path / "docs" / "results.md", tmp_path / "README.md"
    results_page.publish("grid", "Grid", "body", page=page, headline=[("M on D, test NDCG@10", "0.1234")])
    readme.write_text("# x\n<!-- results:headline -->\nold\n<!-- /results:headline -->\nend\n")
    results_page.copy_headline(readme, page)
    text = readme.read_text()
    assert "old" not in text and "| M on D, test NDCG@10 | 0.1234 |" in text and "(docs/results.md#grid)" in text
    with pytest.raises(SystemExit):
        results_page.copy_headline(tmp_path / "docs" / "results.md", page)  # no block to fill


def test_the_readme_headline_is_the_results_pages():
    readme = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"<!-- results:headline -->(.*?)<!-- /results:headline -->", readme, re.S)
    assert block, "README.md has no headline block"
    assert block.group(1).strip() == results_page.headline_table(results_page.PAGE).strip(), \
        "README's headline differs from docs/results.md: run python benchmarks/results_page.py"
