import json

import numpy as np
import pytest
from matplotlib.image import imread

from pynet_cvae.cli import main
from pynet_cvae.datasets.synthetic import ink
from pynet_cvae.plugins.cvae import ConditionalCVAE
from pynet_cvae.plugins.cvae.response import covariate_response, mean_intensity
from pynet_cvae.trained import load_trained_model

from ...threads import torch_threads


@pytest.fixture(scope="module")
def thickness_run(tmp_path_factory):
    """``pynet-cvae train`` of a CVAE conditioned on the class and the stroke thickness
    of the thick digits."""
    root = tmp_path_factory.mktemp("thick")
    output = root / "run"
    with torch_threads(1):
        assert main(["train", "--dataset", "thick-digits", "--datasetdir",
                     str(root / "data"), "--covariates",
                     "{label: categorical, thickness: continuous}", "--model.encoder",
                     "DenseTrunk", "--model.decoder", "DenseDecoder", "--model.hidden_dim",
                     "128", "--model.latent_dim", "8", "--epochs", "30", "--seed", "0",
                     "--output", str(output), "--quiet"]) == 0
    return output


@pytest.fixture(scope="module")
def thickness_model(thickness_run):
    model, config = load_trained_model(str(thickness_run / "checkpoints" /
                                           "model_0_epoch_29.pth"))
    assert config["dataset"] == "thick-digits"
    return model


@pytest.mark.slow
def test_generated_digits_thicken_with_the_requested_thickness(thickness_model):
    response = covariate_response(thickness_model, "thickness", np.linspace(0, 1, 8),
                                  measure=ink, samples=32)
    print(f"thickness -> ink: correlation {response.correlation:.3f} per image, "
          f"{response.curve_correlation:.3f} of the means {np.round(response.measured, 3)}")
    assert response.monotonic
    assert response.correlation >= 0.9
    assert response.measured.shape == response.spread.shape == (8,)


@pytest.mark.slow
def test_a_fixed_class_and_the_default_grid(thickness_model):
    response = covariate_response(thickness_model, "thickness", fixed={"label": 1},
                                  samples=8)
    grid = thickness_model.condition["thickness"].grid()
    assert np.allclose(response.values, grid) and response.monotonic


@pytest.mark.slow
def test_sample_and_evaluate_take_the_covariates(thickness_run, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    assert main(["sample", "--checkpoint", str(thickness_run), "--out", str(grid),
                 "--covariate", "thickness", "--rows", "5", "--columns", "3",
                 "--scale", "1"]) == 0
    assert imread(str(grid)).shape[:2] == (5 * 9 + 1, 3 * 9 + 1)
    results = tmp_path / "results.json"
    assert main(["evaluate", "--checkpoint", str(thickness_run), "--iw-samples", "3",
                 "--test-images", "50", "--json", str(results), "--quiet"]) == 0
    values = json.loads(results.read_text())["run"]
    assert values["conditional_likelihood"] and values["iw_nll"] > 0
    assert "generation_accuracy" not in values  # the judge scores classes alone
    assert not list(thickness_run.parent.glob("**/judge_*.pth"))  # so none was trained


def test_response_errors_name_the_bad_value():
    model = ConditionalCVAE(input_dim=16, hidden_dim=8, latent_dim=2, classifier=False,
                            condition=[{"kind": "categorical", "name": "site", "n_classes": 2},
                                       {"kind": "continuous", "name": "age"}])
    with pytest.raises(ValueError, match="covariate 'site' is categorical"):
        covariate_response(model, "site")
    with pytest.raises(KeyError, match="no covariate 'sex'"):
        covariate_response(model, "sex")
    with pytest.raises(ValueError, match="values must be at least 2 finite numbers"):
        covariate_response(model, "age", values=[1.0])
    with pytest.raises(ValueError, match="'age' varies: it cannot also be fixed"):
        covariate_response(model, "age", fixed={"age": 3})
    with pytest.raises(ValueError, match=r"one value per image, got shapes \[\(1,\)\] for "
                                         r"8 images"):
        covariate_response(model, "age", samples=4, measure=lambda images: images[:1, 0])
    response = covariate_response(model, "age", samples=4, measure=mean_intensity)
    assert response.values.shape == (8,)
