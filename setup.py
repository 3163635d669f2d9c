"""Packaging of pynet-cvae.

Dependencies keep normal ranges for real users; ``constraints.txt`` pins the tested
versions (the CPU build of PyTorch among them) for the quick start and CI.
"""

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version() -> str:
    namespace = {}
    with open(os.path.join(HERE, "pynet_cvae", "__init__.py"), encoding="utf-8") as stream:
        for line in stream:
            if line.startswith("__version__"):
                exec(line, namespace)
                return namespace["__version__"]
    raise RuntimeError("no __version__ in pynet_cvae/__init__.py")


def read_readme() -> str:
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as stream:
        return stream.read()


INSTALL_REQUIRES = [
    # torch <= 2.5.1 can run code from a weights_only load (CVE-2025-32434).
    "torch>=2.6",
    "numpy>=1.23",
    "scipy>=1.9",
    "visdom>=0.2.4",
    # Visdom 0.2.4's page links outside its static folder: tornado 6.6 refuses it.
    "tornado<6.6",
    "pandas>=1.5",
    "scikit-learn>=1.1",
    "nibabel>=4.0",
    "tqdm>=4.60",
    "matplotlib>=3.6",
    # the typed configuration of pynet-cvae train: flags from dataclasses and
    # docstrings, YAML and JSON files
    "jsonargparse[signatures]>=4.27",
    "pyyaml>=5.4",
]

# nilearn ships the MNI152 template the synthetic brain cohort is made from.
BRAIN_REQUIRE = ["nilearn>=0.10"]

OPTIONAL_EXTRAS = {
    "tensorboard": ["tensorboard>=2.14"],
    "mlflow": ["mlflow>=2.12"],
    # pynet-cvae export --format onnx: onnxscript is PyTorch's ONNX exporter,
    # onnxruntime runs the files (and checks them against the model).
    "export": ["onnx>=1.16", "onnxscript>=0.3", "onnxruntime>=1.18"],
}

EXTRAS_REQUIRE = {
    "brain": BRAIN_REQUIRE,
    **OPTIONAL_EXTRAS,
    # setuptools: the plugin test builds and installs a small plugin package; the
    # optional libraries (loggers, export): their tests run the real libraries.
    "test": ["pytest>=7.0", "hypothesis>=6.0", "setuptools>=70.1", *BRAIN_REQUIRE,
             *(requirement for extra in OPTIONAL_EXTRAS.values() for requirement in extra)],
    "doc": ["sphinx>=7.2", "sphinx-gallery>=0.16", "numpydoc>=1.6", *BRAIN_REQUIRE],
}

setup(
    name="pynet-cvae",
    version=read_version(),
    description="A pynet-style PyTorch training framework with a conditional VAE plugin",
    long_description=read_readme(),
    long_description_content_type="text/markdown",
    license="CeCILL-B",
    python_requires=">=3.10",
    packages=find_packages(include=["pynet_cvae", "pynet_cvae.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={
        "console_scripts": ["pynet-cvae = pynet_cvae.cli:main"],
        "pynet_cvae.plugins": ["cvae = pynet_cvae.plugins.cvae"],
        "pynet_cvae.commands": ["sample = pynet_cvae.plugins.cvae.commands.sample",
                                "evaluate = pynet_cvae.plugins.cvae.commands.evaluate",
                                "export = pynet_cvae.plugins.cvae.commands.export"],
        "pynet_cvae.normative_commands": [
            "cvae = pynet_cvae.plugins.cvae.commands.normative"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
