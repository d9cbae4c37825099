"""recbole-ext: RecBole 1.2.1 extended for sequential recommendation.

Why recbole is not in ``install_requires``: recbole 1.2.1 (the newest release) requires
``ray>=1.13,<=2.6.3``, and Ray 2.6.3 has no wheel for Python >= 3.12 and needs numpy < 2, pandas'
2023 API and ``pkg_resources`` (setuptools < 81). pip has no per-package dependency override, so
recbole is installed on its own without its dependencies (the documented ``--no-deps`` route)::

    pip install --no-deps recbole==1.2.1 && pip install -e .

and the dependencies recbole really uses are declared below instead (its ``Requires-Dist`` minus
Ray, which only its ``quick_start`` module imports, and hyperopt, which it imports lazily for
tuning). ``recbole_ext/compat.py`` checks at import that recbole 1.2.1 is there and names that
command if not, and patches each measured break of recbole 1.2.1 on today's numpy, pandas,
hyperopt and torch, so there is no upper pin below. Ray Tune is the optional extra ``ray``.

Install torch first with ``pip install torch==2.13.0`` on a CPU machine to get the CPU wheel (an
unpinned torch pulls several GB of CUDA packages); on a GPU machine install the CUDA build of torch.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

# The one version number lives in recbole_ext/__init__.py.
VERSION = re.search(r'^__version__ = "([^"]+)"', Path(__file__).with_name("recbole_ext").joinpath(
    "__init__.py").read_text(encoding="utf-8"), re.M).group(1)

setup(
    name="recbole-ext",
    version=VERSION,
    description="RecBole 1.2.1 extended: paper-faithful sequential models, converters, tuning, benchmarks",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["recbole_ext", "recbole_ext.*"]),
    package_data={"recbole_ext": ["properties/*.yaml", "configs/*.yaml", "configs/tune/*.hyper"]},
    install_requires=[
        # recbole 1.2.1's own requirements, less ray (see above); no upper pins: compat.py patches.
        "torch>=2.0",
        "numpy>=1.24",
        "scipy>=1.6",
        "pandas>=2.0",
        "tqdm>=4.48",
        "colorlog>=4.7.2",  # recbole pins ==4.7.2; its logger uses only ColoredFormatter (stable since 4.x)
        "colorama>=0.4.4",  # recbole pins ==0.4.4; it uses init() and Fore only
        "scikit-learn>=0.23.2",
        "pyyaml>=6",
        "tensorboard>=2.5",
        "thop>=0.1.1.post2207130030",
        "tabulate>=0.8.10",
        "plotly>=4.0",
        "texttable>=0.9",
        "psutil>=5.9",  # also: peak memory in benchmarks
        "pyarrow>=18",  # .inter files parsed block by block into dictionary codes (no Python object per row)
        "hyperopt>=0.3",  # HyperTuning; 0.2.x imports pkg_resources (gone in setuptools 81); compat patches 0.2.7+
        "isal>=1.0",  # python-isal's igzip inflates GoodReads .json.gz ~2.5x faster than zlib (converter)
        "matplotlib>=3.7",  # benchmark plots
    ],
    extras_require={
        "ray": ["ray[tune]>=2.41"],  # Ray Tune for --tool ray (tune.RunConfig / tune.report / get_context)
        "test": [
            "pytest>=7",
            "hypothesis>=6",
            "setuptools>=70.1",  # tests/test_install.py builds the wheel without isolation (bdist_wheel built in)
        ],
    },
    entry_points={
        "console_scripts": [
            "recbole-ext-run=recbole_ext.cli:main",
            "recbole-ext-tune=recbole_ext.cli:tune_main",
            "recbole-ext-bench=recbole_ext.bench:main",
            "recbole-ext-convert=recbole_ext.convert:main",
            "recbole-ext-split=recbole_ext.split:main",
            "recbole-ext-evaluate=recbole_ext.evaluate:main",
        ]
    },
)
