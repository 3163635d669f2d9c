"""The zoo's conditional VAE as a normative model, in Python and from the command line."""

import json

import nibabel
import numpy as np
import pandas as pd
import pytest
import torch

from pynet_cvae.cli import main
from pynet_cvae.normative import NormativeData, counterfactual, harmonise, run_normative
from pynet_cvae.normative.evaluation import write_counterfactuals
from pynet_cvae.plugins.cvae import ConditionalCVAE, CVAENormativeModel
from pynet_cvae.plugins.cvae.networks import VolumeTrunk

STUDY = dict(lesion_column="lesion_mask", group_column="group", keep_residual=False)


def _model(**fields):
    return CVAENormativeModel(epochs=2, batch_size=8, threads=1, progress=False, **fields)


def _train_rows(data):
    rows = np.flatnonzero((data.table["split"] == "train").to_numpy())
    return data.rows(rows), data.covariates(rows)


@pytest.fixture(scope="module")
def fitted(coarse_data):
    return _model(latent_dim=4).fit(*_train_rows(coarse_data))


def test_the_model_is_the_zoo_cvae_of_volumes_conditioned_on_the_covariates(fitted,
                                                                            coarse_data):
    network = fitted.network
    assert isinstance(network, ConditionalCVAE) and isinstance(network.encoder_trunk,
                                                               VolumeTrunk)
    assert network.image_shape == coarse_data.images.shape[2:] == (25, 29, 24)
    assert network.condition.names == ["age", "sex", "site"]
    assert network.condition["site"].categories == ("site1", "site2", "site3")
    assert network.config.latent_dim == 4 and network.config.likelihood == "gaussian"
    assert len(fitted.history.steps) == 2


def test_predictions_decode_each_subject_under_the_requested_covariates(fitted, coarse_data):
    rows = np.arange(4)
    images, covariates = coarse_data.rows(rows)[:], coarse_data.covariates(rows)
    same = fitted.predict(covariates, images).mean
    assert same.shape == images.shape and np.isfinite(same).all()
    # nothing changed: the counterfactual is the reconstruction, bit for bit
    np.testing.assert_array_equal(counterfactual(fitted, covariates, {"age": covariates["age"]},
                                                 images, keep_residual=False), same)
    older = counterfactual(fitted, covariates, {"age": 85.0}, images, keep_residual=False)
    assert not np.allclose(older, same)
    # encoded under the observed covariates, not the changed ones
    encoded_older = fitted.predict(covariates.assign(age=85.0), images).mean
    assert not np.array_equal(encoded_older, older)
    site = harmonise(fitted, images, covariates, "site1", keep_residual=False)
    np.testing.assert_array_equal(site[covariates["site"].to_numpy() == "site1"],
                                  same[covariates["site"].to_numpy() == "site1"])
    with pytest.raises(ValueError, match="not one of its categories"):
        fitted.predict(covariates.assign(site="elsewhere"), images)
    with pytest.raises(ValueError, match="needs the images"):
        fitted.predict(covariates)


def test_each_site_gets_the_spread_of_its_own_training_residuals(fitted, coarse_data):
    images, covariates = _train_rows(coarse_data)
    images = images[:]
    residuals = images - fitted.predict(covariates, images).mean
    sites = covariates["site"].to_numpy()
    assert sorted(fitted.spread.spreads) == ["site1", "site2", "site3"]
    for site in ("site1", "site2", "site3"):
        rms = np.sqrt(np.mean(residuals[sites == site].astype(np.float64) ** 2, axis=0))
        np.testing.assert_allclose(fitted.spread.spreads[site], rms.ravel(), rtol=1e-5)
    expected = fitted.predict(covariates, images)
    assert expected.spread.shape == expected.mean.shape
    for index, site in enumerate(sites):
        np.testing.assert_array_equal(expected.spread[index].ravel(),
                                      fitted.spread.spreads[site].astype(np.float32))
    # the spread is that of the site the images were acquired at, not the decoded one
    moved = fitted.predict(covariates.assign(site="site1"), images, observed=covariates)
    np.testing.assert_array_equal(moved.spread, expected.spread)


def test_training_is_seeded(coarse_data, fitted):
    again = _model(latent_dim=4).fit(*_train_rows(coarse_data))
    for mine, theirs in zip(fitted.network.state_dict().values(),
                            again.network.state_dict().values()):
        assert torch.equal(mine, theirs)


def test_the_study_scores_with_the_cvae_as_with_the_baseline(coarse_data):
    result = run_normative(_model(), coarse_data, **STUDY)
    metrics = result.metrics
    assert metrics["subjects"] == {"train": 18, "calibration": 6, "test": 12}
    assert result.z.shape == (18, coarse_data.voxels) and np.isfinite(result.z).all()
    for name in ("calibration_fraction", "voxel_auroc", "subject_auroc", "site_accuracy",
                 "site_accuracy_harmonised", "age_r2", "age_r2_harmonised"):
        assert isinstance(metrics[name], float), name
    assert 0.5 < metrics["voxel_auroc"] <= 1
    assert metrics["harmonised_keep_residual"] is False


def test_refusals_name_the_bad_value(coarse_data):
    with pytest.raises(RuntimeError, match="predict before fit"):
        _model().predict(coarse_data.covariates([0]), coarse_data.rows([0])[:])
    with pytest.raises(ValueError, match="epochs 0 is invalid"):
        CVAENormativeModel(epochs=0)
    with pytest.raises(ValueError, match="both continuous and categorical"):
        CVAENormativeModel(continuous=["age"], categorical=["age"])
    with pytest.raises(ValueError, match="spread_by 'scanner' is not a categorical covariate"):
        CVAENormativeModel(spread_by="scanner")
    images, covariates = _train_rows(coarse_data)
    with pytest.raises(ValueError, match="18 images but 17 rows"):
        _model().fit(images, covariates.iloc[1:])
    with pytest.raises(ValueError, match="expected .N, 1, X, Y, Z. volumes"):
        _model().fit(np.zeros((18, 2, 4, 4, 4), np.float32), covariates)


@pytest.mark.slow
def test_a_run_of_the_normative_recipe_scores_from_the_command_line(coarse_cohort, tmp_path,
                                                                    capsys):
    run = tmp_path / "run"
    assert main(["train", "--recipe", "normative", "--dataset", coarse_cohort.table_path,
                 "--epochs", "2", "--threads", "1", "--output", str(run), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "recipe:           normative (ConditionalCVAE)" in printed
    config = json.loads((run / "checkpoints" / "model_config.json").read_text())
    assert config["kwargs"]["encoder"] == "VolumeTrunk"
    assert [item["name"] for item in config["kwargs"]["condition"]] == ["age", "sex", "site"]

    output = tmp_path / "scores"
    assert main(["normative", "cvae", "--table", coarse_cohort.table_path, "--checkpoint",
                 str(run), "--lesion-column", "lesion_mask", "--group-column", "group",
                 "--counterfactual", "age=80", "--counterfactual", "site=site2",
                 "--harmonise", "--threads", "1", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "voxel_auroc" in printed and "age-80: 18 in" in printed
    metrics = json.loads((output / "metrics.json").read_text())
    table = pd.read_csv(coarse_cohort.table_path, sep="\t")
    assert metrics["reference_site"] == table["site"][table["split"] == "train"].mode()[0]
    zmaps = sorted((output / "zmaps").glob("*_zmap.nii.gz"))
    assert len(zmaps) == 18
    reference = nibabel.load(coarse_cohort.table_path.replace("participants.tsv", "")
                             + "sub-019/anat/sub-019_T1w.nii.gz")
    made = nibabel.load(output / "counterfactuals" / "sub-019_T1w_age-80.nii.gz")
    assert made.shape == reference.shape
    np.testing.assert_allclose(made.affine, reference.affine)
    assert len(list((output / "counterfactuals").glob("*_site-site2.nii.gz"))) == 18
    assert len(list((output / "harmonised").glob("*_harmonised.nii.gz"))) == 18

    loaded = CVAENormativeModel.from_run(str(run))  # its fit trains nothing
    before = {name: value.clone() for name, value in loaded.network.state_dict().items()}
    data = NormativeData.from_item(coarse_cohort)
    assert loaded.predict(data.covariates([0]), data.rows([0])[:]).spread is None
    loaded.fit(*_train_rows(data))
    assert all(torch.equal(before[name], value)
               for name, value in loaded.network.state_dict().items())
    assert sorted(loaded.spread.spreads) == ["site1", "site2", "site3"]
    with pytest.raises(ValueError, match="images of shape .4, 4, 4. for a model trained on "
                                         ".25, 29, 24."):
        loaded.fit(np.zeros((18, 1, 4, 4, 4), np.float32), _train_rows(data)[1])


def test_the_command_refuses_bad_counterfactuals_and_runs(coarse_cohort, tmp_path, capsys):
    common = ["normative", "cvae", "--table", coarse_cohort.table_path, "--output",
              str(tmp_path / "out")]
    assert main(common + ["--counterfactual", "weight=3"]) == 1
    assert "'weight' is not a covariate (expected one of ['age', 'sex', 'site'])" in \
        capsys.readouterr().err
    assert main(common + ["--counterfactual", "age"]) == 1
    assert "expected COLUMN=VALUE" in capsys.readouterr().err
    assert main(common + ["--checkpoint", str(tmp_path / "nothing")]) == 1
    assert "no checkpoint file or directory" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_counterfactual_images_are_written_in_the_subjects_space(fitted, coarse_data,
                                                                 tmp_path):
    written = write_counterfactuals(fitted, coarse_data, [0, 3], {"age": 30.0}, tmp_path,
                                    "age-30", keep_residual=False)
    assert [path.rsplit("/", 1)[1] for path in written] == ["sub-001_T1w_age-30.nii.gz",
                                                            "sub-004_T1w_age-30.nii.gz"]
    image = np.asarray(nibabel.load(written[1]).dataobj)
    expected = counterfactual(fitted, coarse_data.covariates([3]), {"age": 30.0},
                              coarse_data.rows([3])[:], keep_residual=False)
    np.testing.assert_allclose(image, expected[0, 0], rtol=1e-6)


def test_the_normative_recipe_refuses_images_that_are_not_volumes(tmp_path, capsys):
    assert main(["train", "--recipe", "normative", "--epochs", "1", "--output",
                 str(tmp_path / "run"), "--quiet"]) == 1
    assert "the normative recipe trains on 3-D volumes, got images of shape (8, 8)" in \
        capsys.readouterr().err


def test_a_table_names_its_one_column_of_images(coarse_cohort, tmp_path):
    from pynet_cvae.datasets.participants import image_column_of

    assert image_column_of(coarse_cohort.table_path) == "t1"  # lesion masks: some empty
    table = pd.read_csv(coarse_cohort.table_path, sep="\t").assign(flair=lambda t: t["t1"])
    table.to_csv(tmp_path / "two.tsv", sep="\t", index=False)
    with pytest.raises(ValueError, match=r"2 columns of NIfTI paths in every row "
                                         r"\(\['t1', 'flair'\]\): expected exactly one"):
        image_column_of(tmp_path / "two.tsv")


def test_every_way_to_train_the_normative_cvae_defaults_to_80_epochs(capsys):
    # 20 epochs left its counterfactuals ageing backwards on the synthetic cohort
    assert CVAENormativeModel().epochs == 80
    with pytest.raises(SystemExit) as printed:
        main(["train", "--recipe", "normative", "--print-config"])
    assert printed.value.code == 0 and "\nepochs: 80\n" in capsys.readouterr().out
    with pytest.raises(SystemExit) as helped:
        main(["normative", "cvae", "--help"])
    assert helped.value.code == 0 and "training epochs (default 80)" in capsys.readouterr().out
