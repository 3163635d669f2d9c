"""The baseline end to end on a small synthetic cohort: scores, metrics, NIfTI maps."""

import json

import nibabel
import numpy as np
import pandas as pd
import pytest

from pynet_cvae.normative import MassUnivariateModel, NormativeData, run_normative, \
    write_outputs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(small_data):
    return run_normative(MassUnivariateModel(), small_data, lesion_column="lesion_mask",
                         group_column="group")


def test_the_baseline_is_calibrated_and_finds_the_lesions(result, small_data):
    metrics = result.metrics
    assert metrics["subjects"] == {"train": 30, "calibration": 10, "test": 20}
    assert metrics["voxels"] == small_data.voxels
    assert 0.02 < metrics["calibration_fraction"] < 0.10
    assert metrics["voxel_auroc"] > 0.95
    assert metrics["subject_auroc"] > 0.8
    assert metrics["site_chance"] < 1 and 0 <= metrics["site_accuracy_harmonised"] <= 1
    assert metrics["age_r2"] > 0.3
    assert result.z.shape == (30, small_data.voxels)
    lesion = result.scores["group"] == "lesion"
    assert result.scores.loc[lesion, "deviation_score"].mean() > \
        result.scores.loc[~lesion, "deviation_score"].mean()


def test_the_outputs_are_nifti_maps_in_the_subjects_space_and_tables(result, small_data,
                                                                   tmp_path):
    paths = write_outputs(result, small_data, tmp_path)
    assert len(paths["zmaps"]) == 30
    first = nibabel.load(paths["zmaps"][0])
    np.testing.assert_allclose(first.affine, small_data.reference.affines[result.rows[0]])
    np.testing.assert_allclose(np.asarray(first.dataobj)[small_data.mask], result.z[0],
                               rtol=1e-6)
    assert (np.asarray(first.dataobj)[~small_data.mask] == 0).all()
    scores = pd.read_csv(paths["scores"], sep="\t")
    assert list(scores["participant_id"]) == list(small_data.table["participant_id"]
                                                  .iloc[result.rows])
    assert json.loads(open(paths["metrics"]).read())["voxel_auroc"] == \
        pytest.approx(result.metrics["voxel_auroc"])


def test_a_table_without_calibration_subjects_is_refused(small_data):
    table = small_data.table.assign(split="train")
    data = NormativeData(small_data.images, table, small_data.mask, small_data.reference)
    with pytest.raises(ValueError, match="no 'calibration' subject"):
        run_normative(MassUnivariateModel(), data)
    with pytest.raises(ValueError, match="split column 'fold'"):
        run_normative(MassUnivariateModel(), small_data, split_column="fold")


def test_reconstructions_at_the_reference_site_carry_no_site(small_data, result):
    kept = result.metrics
    assert kept["harmonised_keep_residual"] is True
    assert kept["site_accuracy"] > kept["site_chance"] + 0.3  # raw images tell the site
    rebuilt = run_normative(MassUnivariateModel(), small_data, lesion_column="lesion_mask",
                            group_column="group", keep_residual=False).metrics
    assert rebuilt["harmonised_keep_residual"] is False
    # A population model's image at one site depends on age and sex alone.
    assert rebuilt["site_accuracy_harmonised"] <= rebuilt["site_chance"] + 0.1
    assert rebuilt["age_r2_harmonised"] > 0.5
    assert rebuilt["voxel_auroc"] == pytest.approx(kept["voxel_auroc"])  # scoring unchanged
