import json

import pytest
import torch

from pynet_cvae.checkpoint import save_checkpoint
from pynet_cvae.cli import main
from pynet_cvae.plugins.cvae import CVAE, ConditionalCVAE, load_trained_model, save_model_config
from pynet_cvae.trained import find_model_config


def test_a_model_is_rebuilt_from_its_checkpoint_and_configuration(tmp_path):
    kwargs = {"input_dim": 64, "hidden_dim": 16, "latent_dim": 3, "n_classes": 10,
              "encoder": "Conv2dTrunk", "image_shape": [8, 8]}
    model = ConditionalCVAE(**kwargs)
    checkpoints = tmp_path / "run" / "checkpoints"
    config = save_model_config(str(checkpoints), "ConditionalCVAE", kwargs, dataset="digits")
    path = save_checkpoint(str(checkpoints / "model_0_epoch_3.pth"),
                           model=model.state_dict(), epoch=3)
    loaded, settings = load_trained_model(path)
    assert isinstance(loaded, ConditionalCVAE) and not loaded.training
    assert settings["dataset"] == "digits" and json.load(open(config))["kwargs"] == kwargs
    assert loaded.config == model.config
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value)


def test_the_configuration_is_found_beside_the_checkpoint_or_above(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    checkpoint = str(tmp_path / "checkpoints" / "model_0_epoch_0.pth")
    with pytest.raises(FileNotFoundError, match="no model_config.json beside checkpoint"):
        find_model_config(checkpoint)
    save_model_config(str(tmp_path), "CVAE", {"input_dim": 4, "hidden_dim": 2,
                                              "latent_dim": 1, "n_classes": 2})
    assert find_model_config(checkpoint) == str(tmp_path / "model_config.json")


def test_configuration_errors_name_the_bad_value(tmp_path):
    with pytest.raises(ValueError, match="network 'Nope' is not registered"):
        save_model_config(str(tmp_path), "Nope", {})
    save_model_config(str(tmp_path), "CVAE", {"input_dim": 64, "hidden_dim": 8,
                                              "latent_dim": 2, "n_classes": 10})
    model = ConditionalCVAE(input_dim=64, hidden_dim=8, latent_dim=2)
    path = save_checkpoint(str(tmp_path / "model_0_epoch_0.pth"), model=model.state_dict())
    with pytest.raises(ValueError, match="do not fit the configured CVAE"):
        load_trained_model(path)
    (tmp_path / "model_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_trained_model(path)


def test_an_argument_the_network_does_not_take_is_named(tmp_path, capsys):
    kwargs = {"input_dim": 64, "hidden_dim": 16, "latent_dim": 3, "n_classes": 10}
    checkpoints = tmp_path / "run" / "checkpoints"
    config = save_model_config(str(checkpoints), "CVAE", kwargs)
    path = save_checkpoint(str(checkpoints / "model_0_epoch_0.pth"),
                           model=CVAE(**kwargs).state_dict(), epoch=0)
    forged = json.load(open(config))
    forged["kwargs"]["dropout"] = 0.5
    json.dump(forged, open(config, "w"))
    message = (f"model configuration {config!r} gives CVAE the argument(s) ['dropout'], which "
               "it does not take: expected some of ['hidden_dim', 'input_dim', 'latent_dim', "
               "'n_classes']")
    with pytest.raises(ValueError) as refused:
        load_trained_model(path)
    assert str(refused.value) == message
    assert main(["sample", "--checkpoint", path, "--out", str(tmp_path / "grid.png")]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"pynet-cvae: error: {message}"


def test_a_conditional_run_of_an_earlier_version_is_one_clear_error(tmp_path):
    import json

    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    (checkpoints / "model_config.json").write_text(json.dumps({
        "network": "ConditionalCVAE", "recipe": "conditional",
        "kwargs": {"input_dim": 64, "hidden_dim": 32, "latent_dim": 4, "n_classes": 10,
                   "architecture": "mlp", "image_shape": [8, 8], "shared_trunk": True}}))
    torch.save({"model": {}}, checkpoints / "model_0_epoch_0.pth")
    with pytest.raises(ValueError, match=r"written by an earlier pynet-cvae.*no longer "
                                         r"takes \['architecture', 'shared_trunk'\].*train "
                                         r"the run again"):
        load_trained_model(str(checkpoints / "model_0_epoch_0.pth"))
