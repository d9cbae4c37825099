"""recbole-ext: RecBole 1.2.1 extended for sequential recommendation.

The pins below are the set measured to run recbole 1.2.1 (training, load_best_model, HyperTuning,
Ray Tune) on Python 3.11; recbole_ext/compat.py checks them at import and explains each one.
Install torch first with `pip install torch==2.13.0` to get the CPU wheel (an unpinned torch pulls
several GB of CUDA packages).
"""

from setuptools import find_packages, setup

setup(
    name="recbole-ext",
    version="0.1.0",
    description="RecBole 1.2.1 extended: paper-faithful sequential models, converters, tuning, benchmarks",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",  # recbole 1.2.1 pins ray<=2.6.3, which has no Python 3.12 wheel
    packages=find_packages(include=["recbole_ext", "recbole_ext.*"]),
    package_data={"recbole_ext": ["properties/*.yaml"]},
    install_requires=[
        "recbole==1.2.1",
        "torch>=2.0",
        "numpy>=1.24,<2",  # numpy 2 removed np.float_ / np.bool8 (RecBole's Config, ray workers)
        "pandas>=2.0,<3",  # pandas 3 ignores fillna(inplace=True) on a column view (RecBole's dataset)
        "pyyaml>=6",
        "setuptools<81",  # ray 2.6.3 and hyperopt import pkg_resources
        "hyperopt==0.2.5",  # 0.2.7 breaks HyperTuning's exhaustive search
        "ray[tune]==2.6.3",  # the newest ray recbole 1.2.1 accepts; Ray Tune scales trials out
        "pyarrow<19",  # ray 2.6.3's Tune result step needs pyarrow, and <19 works with numpy 1.x
        "tqdm>=4.48",
        "isal>=1.0",  # python-isal's igzip inflates GoodReads .json.gz ~2.5x faster than zlib (converter)
        "matplotlib>=3.7",  # benchmark plots
        "psutil>=5.9",  # peak memory in benchmarks
    ],
    extras_require={"test": ["pytest>=7"]},
)
