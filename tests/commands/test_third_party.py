"""A third-party plugin, installed as a package, trained, sampled and evaluated from the
command line with a YAML config."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml

SETUP = """
from setuptools import setup
setup(name="tinycvae", version="0.1", py_modules=["tiny_cvae"],
      entry_points={"pynet_cvae.plugins": ["tiny = tiny_cvae"],
                    "pynet_cvae.commands": ["tiny-info = tiny_cvae"]})
"""

PLUGIN = '''
"""A tiny conditional VAE of a third party, with its loss, metric, fetcher and command."""

import torch
import torch.nn.functional as func

from pynet_cvae.datasets import fetch_digits
from pynet_cvae.plugins.cvae import Condition, GenerativeMixin
from pynet_cvae.registry import Fetchers, Losses, Metrics, Networks


@Networks.register
class TinyCVAE(GenerativeMixin, torch.nn.Module):
    """A dense CVAE with one hidden layer.

    Parameters
    ----------
    input_dim : int
        The size of a flattened image.
    hidden : int
        The hidden layer's size.
    latent_dim : int
        The latent dimension.
    n_classes : int
        The classes.
    """

    has_classifier = False

    def __init__(self, input_dim: int = 64, hidden: int = 32, latent_dim: int = 2,
                 n_classes: int = 10) -> None:
        super().__init__()
        self.input_dim, self.latent_dim = input_dim, latent_dim
        self.condition = Condition.classes(n_classes)
        self.encoder = torch.nn.Linear(input_dim + n_classes, hidden)
        self.heads = torch.nn.Linear(hidden, 2 * latent_dim)
        self.decoder = torch.nn.Sequential(torch.nn.Linear(latent_dim + n_classes, hidden),
                                           torch.nn.ReLU(), torch.nn.Linear(hidden, input_dim))

    def encode_latent(self, x, condition):
        hidden = torch.relu(self.encoder(torch.cat([x, condition], dim=1)))
        return self.heads(hidden).chunk(2, dim=1)

    def decode(self, z, condition):
        return torch.sigmoid(self.decoder(torch.cat([z, condition], dim=1)))

    def forward(self, x, labels):
        condition = self.condition.encode(labels).to(x.dtype)
        z_mu, z_var = self.encode_latent(x, condition)
        z = z_mu + torch.randn_like(z_mu) * torch.exp(z_var / 2)
        return self.decode(z, condition), {"z_mu": z_mu, "z_var": z_var}


@Losses.register
class TinyELBO:
    """The negative ELBO with a weighted KL term.

    Parameters
    ----------
    beta : float
        The KL weight.
    """

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = beta
        self.layer_outputs = None

    def __call__(self, prediction, x, labels=None):
        kl = 0.5 * (self.layer_outputs["z_var"].exp() + self.layer_outputs["z_mu"] ** 2
                    - 1 - self.layer_outputs["z_var"]).sum(dim=1).mean()
        reconstruction = func.binary_cross_entropy(prediction, x, reduction="sum") / len(x)
        return reconstruction + self.beta * kl


@Metrics.register
def tiny_mean(prediction, x, labels=None):
    """The mean intensity of the reconstructions."""
    return prediction.mean()


@Fetchers.register
def fetch_tiny_digits(datasetdir):
    """The embedded digits, prepared in datasetdir."""
    return fetch_digits(datasetdir)


def add_parser(subparsers):
    """The plugin's own command."""
    command = subparsers.add_parser("tiny-info", help="say what the tiny plugin holds")
    command.set_defaults(run=lambda arguments: print("tiny plugin: TinyCVAE, TinyELBO") or 0)
'''

CONFIG = """
recipe: network
network: TinyCVAE
dataset: fetch_tiny_digits
datasetdir: {data}
epochs: 2
batch_size: 32
learning_rate: 0.01
seed: 5
quiet: true
model:
  hidden: 16
  latent_dim: 2
loss:
  name: TinyELBO
  args: {{beta: 0.5}}
metrics:
  - name: tiny_mean
labels: [label]
"""


def _install(tmp_path):
    package = tmp_path / "src"
    package.mkdir()
    (package / "setup.py").write_text(SETUP)
    (package / "tiny_cvae.py").write_text(textwrap.dedent(PLUGIN))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(site),
                    str(package)], check=True, capture_output=True, text=True, timeout=300)
    return dict(os.environ, PYTHONPATH=str(site))


def _pynet_cvae(environment, *arguments):
    result = subprocess.run([sys.executable, "-m", "pynet_cvae.cli", *map(str, arguments)],
                            env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.subprocess
@pytest.mark.slow
def test_a_third_party_model_trains_samples_and_is_evaluated_from_a_yaml_config(tmp_path):
    environment = _install(tmp_path)
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG.format(data=tmp_path / "data"))
    assert "TinyCVAE, TinyELBO" in _pynet_cvae(environment, "tiny-info")
    help_text = _pynet_cvae(environment, "train", "--config", config, "--help")
    assert "--model.hidden HIDDEN" in help_text and "The hidden layer's size." in help_text
    printed = _pynet_cvae(environment, "train", "--config", config, "--print-config")
    assert yaml.safe_load(printed)["loss"] == {"name": "TinyELBO", "args": {"beta": 0.5}}
    (tmp_path / "printed.yaml").write_text(printed)
    summary = _pynet_cvae(environment, "train", "--config", config, "--output",
                          tmp_path / "run")
    assert "recipe:           network (TinyCVAE)" in summary and "tiny_mean" in summary
    _pynet_cvae(environment, "train", "--config", tmp_path / "printed.yaml", "--output",
                tmp_path / "again")
    first, second = (torch.load(tmp_path / run / "checkpoints" / "model_0_epoch_1.pth",
                                weights_only=True)["model"] for run in ("run", "again"))
    assert all(torch.equal(first[key], second[key]) for key in first)  # bit for bit
    grid = tmp_path / "grid.png"
    assert "wrote" in _pynet_cvae(environment, "sample", "--checkpoint", tmp_path / "run",
                                  "--out", grid, "--columns", "4")
    assert grid.stat().st_size > 0
    results = tmp_path / "results.json"
    _pynet_cvae(environment, "evaluate", "--checkpoint", tmp_path / "run", "--iw-samples", 2,
                "--samples-per-class", 5, "--test-images", 40, "--json", results,
                "--judge-dir", tmp_path / "judge", "--judge-epochs", 1, "--threads", 1,
                "--quiet")  # one thread: the judge trains several times faster on shared cores
    values = json.loads(results.read_text())["run"]
    assert values["network"] == "TinyCVAE" and values["conditional_likelihood"]
    assert values["iw_nll"] > 0 and 0 <= values["generation_accuracy"] <= 1
