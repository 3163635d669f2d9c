import json
import os
import subprocess
import sys
import textwrap

import pytest

from pynet_cvae import registry
from pynet_cvae.registry import Fetchers, Losses, Metrics, Networks, Observers, get_tools


@pytest.fixture
def scratch_registry():
    class Scratch(registry.Registry):
        kind = "thing"
    return Scratch


def test_register_by_decorator_keeps_the_object(scratch_registry):
    @scratch_registry.register
    class Widget:
        pass

    assert scratch_registry.get_registry()["Widget"] is Widget
    assert scratch_registry.get("Widget") is Widget


def test_register_under_a_given_name(scratch_registry):
    @scratch_registry.register(name="custom")
    def function():
        return 1

    assert scratch_registry.get("custom") is function


def test_a_duplicate_name_is_a_clear_error(scratch_registry):
    @scratch_registry.register
    class Widget:
        pass

    scratch_registry.register(Widget)  # the same object again is harmless

    with pytest.raises(ValueError, match="'Widget' is already registered in Scratch"):
        @scratch_registry.register
        class Widget:  # noqa: F811
            pass


def test_unknown_name_lists_the_registered_ones(scratch_registry):
    scratch_registry.register(len, name="length")
    with pytest.raises(KeyError, match="no thing named 'size'.*'length'"):
        scratch_registry.get("size")


def test_registries_are_separate(scratch_registry):
    scratch_registry.register(len, name="only_here")
    assert "only_here" not in Networks.get_registry()


def test_the_builtin_plugin_and_fetchers_are_registered():
    tools = get_tools()
    assert set(tools) == {"networks", "regularizers", "losses", "metrics", "observers",
                          "fetchers", "recipes"}
    assert {"network", "tutorial", "conditional", "semi-supervised", "prior"} <= set(
        tools["recipes"])
    assert {"CVAE", "Encoder", "Decoder", "DigitClassifier"} <= set(tools["networks"])
    assert {"DecodeLoss", "VAELoss", "ClassificationLoss"} <= set(tools["losses"])
    assert {"VAELoss", "ClassificationLoss"} <= set(tools["metrics"])
    assert "sampling" in tools["observers"]
    assert {"fetch_minst", "fetch_mnist", "fetch_fashion_mnist", "fetch_digits",
            "fetch_cifar"} <= set(tools["fetchers"])
    assert Losses.get("VAELoss") is Metrics.get("VAELoss")
    assert Observers.get("sampling") is registry.Observers.get_registry()["sampling"]
    assert Fetchers.get("fetch_digits").__name__ == "fetch_digits"


PLUGIN_SETUP = """
from setuptools import setup
setup(name="{name}", version="0.1", py_modules=["{module}"],
      entry_points={{"pynet_cvae.plugins": ["{name} = {module}"]}})
"""

GOOD_PLUGIN = """
import torch
from pynet_cvae.registry import Losses, Metrics, Networks

@Networks.register
class TinyNet(torch.nn.Module):
    def __init__(self, n_features=4, n_classes=3):
        super().__init__()
        self.linear = torch.nn.Linear(n_features, n_classes)

    def forward(self, x):
        return self.linear(x)

@Losses.register
class TinyCrossEntropy:
    def __call__(self, prediction, labels):
        return torch.nn.functional.cross_entropy(prediction, labels)

@Metrics.register
def tiny_accuracy(prediction, labels):
    return (prediction.argmax(dim=1) == labels).float().mean()
"""

TRAIN_BY_NAME = """
import json, warnings
import numpy as np
import torch
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from pynet_cvae.registry import get_tools, load_plugins
    loaded = load_plugins()
from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface
torch.manual_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(120, 8)).astype("float32")
y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1).astype("int64")
manager = DataManager.from_numpy(train_inputs=x, train_labels=y, validation_inputs=x,
                                 validation_labels=y, batch_size=16)
interface = DeepLearningInterface(model="TinyNet", model_kwargs={"n_features": 8},
                                  loss_name="TinyCrossEntropy", metrics=["tiny_accuracy"],
                                  learning_rate=0.05)
train, validation = interface.training(manager, nb_epochs=15, with_validation=True)
print(json.dumps({"loaded": loaded, "warnings": [str(w.message) for w in caught],
                  "model": type(interface.model).__name__,
                  "loss": train["loss"][1], "accuracy": validation["tiny_accuracy"][1]}))
"""


def _install_plugin(tmp_path, name, module, source):
    package = tmp_path / f"src_{name}"
    package.mkdir()
    (package / "setup.py").write_text(PLUGIN_SETUP.format(name=name, module=module))
    (package / f"{module}.py").write_text(textwrap.dedent(source))
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--no-index", "--target", str(site), str(package)],
        check=True, capture_output=True, text=True, timeout=300)
    return site


@pytest.mark.subprocess
def test_an_installed_third_party_plugin_trains_by_name(tmp_path):
    site = _install_plugin(tmp_path, "tinyplugin", "tiny_plugin", GOOD_PLUGIN)
    _install_plugin(tmp_path, "brokenplugin", "broken_plugin",
                    "raise ImportError('this plugin is broken on purpose')\n")
    environment = dict(os.environ, PYTHONPATH=str(site))
    result = subprocess.run([sys.executable, "-c", TRAIN_BY_NAME], env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "tinyplugin" in report["loaded"] and "cvae" in report["loaded"]
    assert "brokenplugin" not in report["loaded"]
    assert any("brokenplugin" in message and "skipped" in message
               for message in report["warnings"])
    assert report["model"] == "TinyNet"
    assert report["loss"][-1] < report["loss"][0]
    assert report["accuracy"][-1] > 0.8


def test_get_tools_by_name_as_in_pynet():
    import pynet_cvae
    from pynet_cvae.registry import Regularizers, get_tools

    tools = pynet_cvae.get_tools()
    assert {"networks", "regularizers", "losses", "metrics"} <= set(tools)
    assert "accuracy" in pynet_cvae.get_tools(tool_name="metrics")
    assert get_tools("regularizers") == Regularizers.get_registry()
    with pytest.raises(ValueError, match="tool_name 'layers' unknown: expected one of "
                                         r"\['networks', 'regularizers'"):
        get_tools("layers")


def test_pynet_model_zoo_entry_point_says_what_to_write_instead():
    import pynet_cvae

    with pytest.raises(AttributeError, match=r"no 'get_interfaces': pynet's model zoo .*"
                                             r"DeepLearningInterface\(model='Name'"):
        pynet_cvae.get_interfaces()
    with pytest.raises(AttributeError, match="has no attribute 'not_a_name'"):
        pynet_cvae.not_a_name


@pytest.mark.subprocess
def test_importing_the_package_loads_neither_torch_nor_matplotlib():
    import subprocess
    import sys

    code = ("import sys, pynet_cvae, pynet_cvae.configure; "
            "print([name for name in ('torch', 'matplotlib') if name in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_the_core_imports_nothing_from_the_plugins():
    """The core finds the plugins through their entry points only (commands included)."""
    import ast
    import pathlib

    import pynet_cvae

    root = pathlib.Path(pynet_cvae.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if "plugins" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []  # ours: relative, or absolute under pynet_cvae (not tensorboard's)
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "")
                                                     .startswith("pynet_cvae")):
                names = [node.module or ""] + [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names
                         if alias.name.startswith("pynet_cvae")]
            if any("plugins" in name.split(".") for name in names):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []
