"""Packaging for synthlib.

Spark, Delta and pyarrow are in the `local` extra: a Databricks runtime brings its own and
the wheel must not replace them. torch is a range (a runtime's own build is kept); the
`local` extra pins the build tested here. Local set-up (`dev/setup.sh`) installs `.[local,test]`.
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"', Path("synthlib/__init__.py").read_text()).group(1)

setup(
    name="synthlib",
    version=VERSION,
    description="Spark-native synthesizer of e-commerce search and recommendation click logs",
    long_description=Path("README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Operating System :: OS Independent",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Intended Audience :: Developers",
    ],
    python_requires=">=3.10",
    packages=find_packages(include=["synthlib", "synthlib.*"]),
    package_data={"synthlib": ["log4j2.properties"]},
    install_requires=[
        "numpy==1.26.4",
        "pandas==2.3.3",
        "pydantic>=2.6,<3",
        "PyYAML>=6.0,<7",
        # The neural synthesizers. petastorm 0.12.1: 0.13 pins setuptools<70, which cannot sit
        # beside torch, and needs pyarrow <= 14 (legacy dataset API).
        "torch>=2.3,<3",
        "petastorm==0.12.1",
        "opacus>=1.5,<1.6",
        # DP aggregation in Spark for the private profile (its RDD backend); Tumult Analytics
        # needs pyspark < 3.6 and pandas < 2 on Python 3.11.
        "pipeline-dp==0.3.1",
        # The text model's tokenizer, and BLEU as the field computes it.
        "sentencepiece==0.2.3",
        "sacrebleu==2.6.0",
        # The report's plots, drawn as inline SVG on the driver.
        "matplotlib>=3.8,<4",
    ],
    extras_require={
        # Provided by Databricks Runtime 17.3 LTS; installed locally and on plain clusters.
        "local": [
            "pyspark==4.0.5",
            "delta-spark==4.0.1",
            "pyarrow==14.0.2",
            "torch==2.5.1",
        ],
        # delta-rs and Polars: the tests read the synthetic tables without Spark, as lake consumers do.
        # Google's dp-accounting: an accountant independent of Opacus, to check DP-SGD's spend.
        "test": ["pytest>=8,<10", "deltalake==1.6.6", "polars==2.1.0", "dp-accounting==0.6.0"],
    },
    entry_points={
        "console_scripts": [
            "synthlib=synthlib.cli:main",
            # One script per job for Databricks `python_wheel_task` entry points.
            "synthlib-simulate=synthlib.cli:simulate_entrypoint",
            "synthlib-profile=synthlib.cli:profile_entrypoint",
            "synthlib-train=synthlib.cli:train_entrypoint",
            "synthlib-generate=synthlib.cli:generate_entrypoint",
            "synthlib-evaluate=synthlib.cli:evaluate_entrypoint",
            "synthlib-pipeline=synthlib.cli:pipeline_entrypoint",
        ]
    },
)
