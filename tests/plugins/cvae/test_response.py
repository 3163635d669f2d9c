import numpy as np
import pandas as pd
import pytest
import torch

from pynet_cvae.datasets import DataManager, fetch_thick_digits
from pynet_cvae.datasets.synthetic import ink
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plugins.cvae import Condition, ConditionalCVAE
from pynet_cvae.plugins.cvae.response import covariate_response, mean_intensity


@pytest.fixture(scope="module")
def thickness_model(tmp_path_factory):
    """A CVAE conditioned on the class and the stroke thickness of the thick digits."""
    item = fetch_thick_digits(tmp_path_factory.mktemp("thick"))
    table = pd.read_csv(item.metadata_path, sep="\t")
    condition = Condition.from_metadata(
        table, {"label": "categorical", "thickness": "continuous"},
        rows=np.flatnonzero(table["split"] == "train"))
    torch.manual_seed(0)
    manager = DataManager(
        input_path=item.input_path, metadata_path=item.metadata_path,
        projection_labels={"split": "train"}, number_of_folds=1, batch_size=64, test_size=0,
        input_transforms=[Flatten()], add_input=True, **condition.manager_arguments())
    model = ConditionalCVAE(input_dim=64, hidden_dim=128, latent_dim=8, classifier=False,
                            condition=condition.to_spec())
    interface = DeepLearningInterface(model=model, learning_rate=3e-3, add_labels=True,
                                      loss=model.objective, progress=False)
    interface.training(manager, nb_epochs=30, fold_index=0, with_validation=False)
    return model.eval()


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
