import numpy as np
import pandas as pd
import pytest
import torch

from pynet_cvae.conditions import Categorical, Condition, Continuous


def test_a_class_only_condition_takes_class_ids():
    condition = Condition.classes(3)
    assert condition.is_class_only and condition.n_classes == 3 and condition.width == 3
    assert condition.columns == ["label"]
    assert torch.equal(condition.encode([2, 0]), torch.tensor([[0., 0., 1.], [1., 0., 0.]]))
    assert condition.values(1, count=4).tolist() == [1, 1, 1, 1]
    assert condition.manager_arguments() == {"labels": ["label"]}
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 3\), got values from 0 "
                                         "to 3"):
        condition.encode([0, 3])


def test_covariates_are_one_hot_or_standardised_in_order():
    condition = Condition([Continuous("age", mean=50, std=10), Categorical("sex", 2)])
    encoded = condition.encode(torch.tensor([[60.0, 1.0], [30.0, 0.0]]))
    assert torch.allclose(encoded, torch.tensor([[1.0, 0.0, 1.0], [-2.0, 1.0, 0.0]]))
    from_mapping = condition.values({"age": [60, 30], "sex": [1, 0]})
    assert torch.equal(condition.encode(from_mapping), encoded)
    assert condition.values({"age": 40}, count=2).tolist() == [[40.0, 0.0], [40.0, 0.0]]
    assert condition.manager_arguments() == {"labels": ["age", "sex"],
                                             "continuous_labels": True}
    with pytest.raises(ValueError, match=r"covariates \['site'\] are not in the condition"):
        condition.values({"site": 1})
    with pytest.raises(ValueError, match=r"shape \(batch, 2\) .*got \(2, 3\)"):
        condition.values(torch.zeros(2, 3))
    # where each continuous covariate sits among the encoded columns
    assert condition.continuous_columns == [0]
    mixed = Condition([Categorical("site", 3), Continuous("age", mean=50, std=10),
                       Categorical("sex", 2), Continuous("tiv", mean=1.5, std=0.1)])
    assert mixed.continuous_columns == [3, 6]


def test_a_grid_runs_along_one_covariate():
    condition = Condition([Continuous("age", mean=50, std=10), Categorical("sex", 2)])
    values, labels = condition.grid("age", count=5, fixed={"sex": 1})
    assert values[:, 0].tolist() == [30.0, 40.0, 50.0, 60.0, 70.0]
    assert values[:, 1].tolist() == [1.0] * 5 and labels[0] == "age=30"
    values, labels = condition.grid("sex")
    assert values.tolist() == [[50.0, 0.0], [50.0, 1.0]] and labels == ["sex=0", "sex=1"]


def test_a_condition_is_learnt_from_a_table_and_travels_as_json():
    table = pd.DataFrame({"age": [20.0, 40.0, 60.0], "site": ["b", "a", "b"],
                          "label": [0, 1, 2]})
    condition = Condition.from_metadata(table, {"age": "continuous", "site": "categorical"})
    age, site = condition.covariates
    assert (age.mean, age.std) == pytest.approx((40.0, np.std([20, 40, 60])))
    assert site.categories == ("a", "b")
    assert condition.code_table(table)["site"].tolist() == [1.0, 0.0, 1.0]
    assert Condition.from_spec(condition.to_spec()) == condition
    assert Condition.from_metadata(table, {"label": "categorical"}).covariates[0].categories \
        is None  # the column holds the ids already
    with pytest.raises(ValueError, match="covariate column 'sex' not in metadata columns"):
        Condition.from_metadata(table, {"sex": "categorical"})
    with pytest.raises(ValueError, match="value 'c' is not one of its categories"):
        condition.code_table(pd.DataFrame({"age": [1.0], "site": ["c"]}))


def test_condition_errors_name_the_bad_value():
    with pytest.raises(ValueError, match=r"covariate names must be unique, got \['a'\]"):
        Condition([Categorical("a", 2), Continuous("a")])
    with pytest.raises(ValueError, match="std > 0, got mean=0.0, std=0"):
        Continuous("age", std=0)
    with pytest.raises(ValueError, match="kind 'ordinal' unknown"):
        Condition.from_spec([{"kind": "ordinal", "name": "grade"}])
    with pytest.raises(ValueError, match="at least one covariate"):
        Condition([])


def test_the_unchecked_encoding_of_traced_programs_equals_the_checked_one():
    classes = Condition.classes(4)
    ids = torch.tensor([0, 3, 1, 2])
    assert torch.equal(classes.encode_unchecked(ids), classes.encode(ids))
    mixed = Condition([Continuous("age", mean=50, std=10), Categorical("sex", 2)])
    table = torch.tensor([[60.0, 1.0], [35.0, 0.0], [50.0, 1.0]])
    assert torch.equal(mixed.encode_unchecked(table), mixed.encode(table))
    # no check inside: an id out of range is a row of zeros, not an error
    assert classes.encode_unchecked(torch.tensor([4, -1])).sum() == 0
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 4\)"):
        classes.encode(torch.tensor([4]))
