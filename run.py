"""Train and evaluate one model on one dataset: ``python run.py --help``.

A thin wrapper kept for the README's commands; the installed command is ``recbole-ext-run``
(both run :func:`recbole_ext.cli.main`).
"""

import sys

from recbole_ext.cli import main

if __name__ == "__main__":
    sys.exit(main())
