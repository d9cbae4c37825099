"""One flag style, the other accepted: ``--output_dir`` and ``--output-dir`` name the same option.

The project's commands spell multi-word flags as RecBole does (``--config_files``); the converter
keeps its documented ``--output-dir``. :func:`either_style` rewrites a flag written in the other
style to the one the parser knows, so a user never has to remember which command uses which.
"""

from __future__ import annotations

import argparse


def either_style(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``argv`` with every ``--a-b`` / ``--a_b`` the parser knows only in the other spelling rewritten."""
    known = {option for action in parser._actions for option in action.option_strings if option.startswith("--")}
    out = []
    for arg in argv:
        flag, sep, value = arg.partition("=")
        if flag.startswith("--") and flag not in known:
            for other in (flag.replace("-", "_").replace("__", "--", 1), "--" + flag[2:].replace("_", "-")):
                if other in known:
                    arg = other + sep + value
                    break
        out.append(arg)
    return out
