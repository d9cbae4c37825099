"""recbole_ext.flags: --a_b and --a-b name the same option."""

from __future__ import annotations

import argparse

from recbole_ext.flags import either_style


def test_flags_in_either_style():
    parser = argparse.ArgumentParser()
    parser.add_argument("--output-dir")
    parser.add_argument("--config_files")
    assert either_style(parser, ["--output_dir", "x", "--config-files=a", "--epochs=3"]) == [
        "--output-dir", "x", "--config_files=a", "--epochs=3"]
