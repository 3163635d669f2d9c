"""pynet-cvae export: the generator and the encoder run in onnxruntime, as TorchScript and
as torch.export programs, equal to the PyTorch model on 100 random conditions, and carry
their shapes and the condition's spec."""

import json
import os
import sys

import numpy as np
import pytest
import torch

from pynet_cvae.checkpoint import latest_checkpoint
from pynet_cvae.cli import main
from pynet_cvae.plugins.cvae import CVAE
from pynet_cvae.plugins.cvae.export import (FORMATS, METADATA_KEY, export_part,
                                            read_export_metadata)
from pynet_cvae.plugins.cvae.zoo import ConditionalCVAE, LearnedPriorCVAE, SemiSupervisedCVAE
from pynet_cvae.trained import load_trained_model

from ...threads import torch_threads

#: The largest difference allowed between a file and its model.
TOLERANCE = 1e-5
#: The random conditions each file is compared on.
COUNT = 100
#: Small dense networks: the conditional recipe in seconds.
DENSE = ["--model.encoder", "DenseTrunk", "--model.decoder", "DenseDecoder",
         "--model.hidden_dim", "32", "--quiet"]

# The tests read TorchScript files, as a user of the format does.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
slow = pytest.mark.slow  # an ONNX or torch.export export traces the model (seconds)
FORMAT_PARAMETERS = [pytest.param("onnx", marks=slow), "torchscript",
                     pytest.param("exported", marks=slow)]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run of the default recipe (ConditionalCVAE) trained for one epoch."""
    run = tmp_path_factory.mktemp("export") / "run"
    with torch_threads(1):
        assert main(["train", "--output", str(run), "--epochs", "1", *DENSE]) == 0
    return run


def run_natively(path, inputs):
    """Run an exported file with its own runtime, not with pynet-cvae's helpers."""
    if path.endswith(".onnx"):
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [item.name for item in session.get_inputs()]
        return session.run(None, {name: value.numpy() for name, value in zip(names, inputs)})
    program = torch.jit.load(path) if path.endswith(".pt") else torch.export.load(path).module()
    with torch.no_grad():
        outputs = program(*inputs)
    return [output.numpy() for output in (outputs if isinstance(outputs, tuple) else [outputs])]


def metadata_natively(path):
    """The metadata JSON, read with the format's own library."""
    if path.endswith(".onnx"):
        import onnx

        return json.loads({entry.key: entry.value
                           for entry in onnx.load(path).metadata_props}[METADATA_KEY])
    files = {METADATA_KEY: ""}
    if path.endswith(".pt"):
        torch.jit.load(path, _extra_files=files)
    else:
        torch.export.load(path, extra_files=files)
    return json.loads(files[METADATA_KEY])


def random_condition(model, count, generator):
    """Class ids, or a table of categorical ids and values within 2 std of the mean."""
    columns = []
    for covariate in model.condition.covariates:
        if covariate.kind == "categorical":
            columns.append(torch.randint(0, covariate.n_classes, (count,),
                                         generator=generator).float())
        else:
            columns.append(covariate.mean + covariate.std * (
                4 * torch.rand(count, generator=generator) - 2))
    if model.condition.is_class_only:
        return columns[0].long()
    return torch.stack(columns, dim=1)


def check_generator(path, model, image_shape):
    """The file's images equal model.sample's, one condition and one draw at a time."""
    generator = torch.Generator().manual_seed(1)
    condition = random_condition(model, COUNT, generator)
    z = torch.randn(COUNT, model.latent_dim, generator=generator)
    expected = torch.cat([model.sample(condition[row:row + 1], z=z[row:row + 1])
                          for row in range(COUNT)]).reshape(COUNT, *image_shape)
    (images,) = run_natively(path, [condition, z])
    assert images.shape == (COUNT, *image_shape)
    difference = float(np.abs(images - expected.numpy()).max())
    assert difference <= TOLERANCE
    (single,) = run_natively(path, [condition[:1], z[:1]])  # the batch size is free
    assert np.abs(single - expected[:1].numpy()).max() <= TOLERANCE
    return difference


def check_encoder(path, model, image_shape):
    """The file's q(z|x, c) equals model.encode's."""
    generator = torch.Generator().manual_seed(2)
    images = torch.rand(COUNT, *image_shape, generator=generator)
    condition = random_condition(model, COUNT, generator)
    expected = model.encode(images.reshape(COUNT, -1), condition)
    z_mu, z_log_var = run_natively(path, [images, condition])
    difference = max(float(np.abs(z_mu - expected.z_mu.numpy()).max()),
                     float(np.abs(z_log_var - expected.z_log_var.numpy()).max()))
    assert difference <= TOLERANCE
    return difference


@pytest.mark.parametrize("fmt", FORMAT_PARAMETERS)
def test_the_exported_default_model_equals_the_pytorch_model(trained_run, fmt, capsys):
    with torch_threads(1):
        assert main(["export", "--checkpoint", str(trained_run), "--format", fmt]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    folder = trained_run / "export"
    paths = [str(folder / (part + FORMATS[fmt])) for part in ("generator", "encoder")]
    assert [line.split(" (")[0] for line in printed] == [f"wrote {path}" for path in paths]
    for line in printed:  # the command checks each file against the model too
        assert float(line.rsplit(": ", 1)[1].rstrip(")")) <= TOLERANCE
    checkpoint = latest_checkpoint(str(trained_run / "checkpoints"))
    model, _ = load_trained_model(checkpoint)
    with torch_threads(1):
        check_generator(paths[0], model, (8, 8))
        check_encoder(paths[1], model, (8, 8))
    generator, encoder = (metadata_natively(path) for path in paths)
    assert generator == read_export_metadata(paths[0])
    assert generator["network"] == "ConditionalCVAE" and generator["format"] == fmt
    assert generator["checkpoint"] == os.path.abspath(checkpoint)
    assert generator["condition"] == [{"kind": "categorical", "name": "class",
                                       "n_classes": 10, "column": "label"}]
    assert generator["inputs"] == [
        {"name": "condition", "dtype": "int64", "shape": ["batch"],
         "description": "class ids in [0, 10)"},
        {"name": "z", "dtype": "float32", "shape": ["batch", model.latent_dim],
         "description": "standard normal draws (times a temperature)"}]
    assert generator["outputs"] == [{"name": "images", "dtype": "float32",
                                     "shape": ["batch", 8, 8]}]
    assert [item["name"] for item in encoder["inputs"]] == ["images", "condition"]
    assert encoder["inputs"][0]["shape"] == ["batch", 8, 8]
    assert [(item["name"], item["shape"]) for item in encoder["outputs"]] == [
        ("z_mu", ["batch", model.latent_dim]), ("z_log_var", ["batch", model.latent_dim])]


def prior_with_covariates():
    """A learned-prior CVAE conditioned on a continuous and a categorical covariate, its
    prior network moved away from N(0, I) so that the exported prior matters."""
    torch.manual_seed(0)
    model = LearnedPriorCVAE(
        input_dim=48, image_shape=(6, 8), hidden_dim=16, latent_dim=3, classifier=False,
        condition=[{"kind": "continuous", "name": "age", "mean": 60.0, "std": 12.0},
                   {"kind": "categorical", "name": "site", "n_classes": 3}])
    for parameter in model.prior.parameters():
        torch.nn.init.normal_(parameter, std=0.5)
    return model.eval()


def mapped_covariates():
    """A conditional CVAE with each pixel's cubic map of the covariates (the normative
    recipe's decoder), the map moved away from zero so that the exported one matters."""
    torch.manual_seed(0)
    model = ConditionalCVAE(
        input_dim=48, image_shape=(6, 8), hidden_dim=16, latent_dim=3, classifier=False,
        likelihood="gaussian", condition_map=3,
        condition=[{"kind": "continuous", "name": "age", "mean": 60.0, "std": 12.0},
                   {"kind": "categorical", "name": "site", "n_classes": 3}])
    torch.nn.init.normal_(model.condition_map.linear.weight, std=0.5)
    return model.eval()


ZOO = {
    "prior-covariates": prior_with_covariates,
    "condition-map": mapped_covariates,
    "m2": lambda: SemiSupervisedCVAE(input_dim=64, hidden_dim=16, latent_dim=4,
                                     n_classes=10).eval(),
    "tutorial": lambda: CVAE(input_dim=64, hidden_dim=16, latent_dim=4, n_classes=10).eval(),
}


@pytest.mark.parametrize("fmt", FORMAT_PARAMETERS)
@pytest.mark.parametrize("name", sorted(ZOO))
def test_other_zoo_models_export_equal_to_the_model(tmp_path, name, fmt):
    model = ZOO[name]()
    shape = tuple(getattr(model, "image_shape", (8, 8)))
    with torch_threads(1):
        generator = export_part(model, "generator", fmt, str(tmp_path / f"g{FORMATS[fmt]}"))
        encoder = export_part(model, "encoder", fmt, str(tmp_path / f"e{FORMATS[fmt]}"))
        check_generator(generator, model, shape)
        check_encoder(encoder, model, shape)
    metadata = metadata_natively(generator)
    assert metadata["condition"] == model.condition.to_spec()
    assert metadata["outputs"][0]["shape"] == ["batch", *shape]
    if name == "prior-covariates":
        assert metadata["inputs"][0] == {
            "name": "condition", "dtype": "float32", "shape": ["batch", 2],
            "description": "raw values of the covariates ['age', 'site'] (class ids of "
                           "the categorical ones)"}


def test_export_errors_are_one_line(tmp_path, trained_run, capsys, monkeypatch):
    assert main(["export", "--checkpoint", str(tmp_path / "none")]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"pynet-cvae: error: no checkpoint file or directory at "
                     f"{str(tmp_path / 'none')!r}"]
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--checkpoint", str(trained_run), "--format", "tflite"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # what Python does when absent
    out = tmp_path / "out"
    assert main(["export", "--checkpoint", str(trained_run), "--format", "onnx",
                 "--out", str(out)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "pip install 'pynet-cvae[export]'" in error[0]
    assert not out.exists() or not os.listdir(out)


def test_a_failed_export_leaves_the_previous_file(tmp_path, monkeypatch):
    model = CVAE(input_dim=64, hidden_dim=16, latent_dim=4, n_classes=10).train()
    path = export_part(model, "generator", "torchscript", str(tmp_path / "generator.pt"))
    assert model.training  # traced in evaluation mode, its mode given back
    before = (tmp_path / "generator.pt").read_bytes()

    def full_disk(program, stream, _extra_files):
        stream.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch.jit, "save", full_disk)
    with pytest.raises(OSError, match="generator.pt"):
        export_part(model, "generator", "torchscript", path)
    assert (tmp_path / "generator.pt").read_bytes() == before
    assert os.listdir(tmp_path) == ["generator.pt"]


def test_a_model_without_the_generation_interface_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Linear has no generation interface"):
        export_part(torch.nn.Linear(2, 2), "generator", "torchscript",
                    str(tmp_path / "g.pt"))
    with pytest.raises(ValueError, match="unknown format 'tflite'"):
        export_part(CVAE(64, 16, 4, 10), "generator", "tflite", str(tmp_path / "g"))
