"""Participants tables of NIfTI images: resampled data sets, masks, covariates, and
results written back in each subject's space."""

import json
import os

import nibabel
import numpy as np
import pandas as pd
import pytest

from pynet_cvae.datasets import DataManager, write_nifti
from pynet_cvae.datasets.nifti import NiftiReference
from pynet_cvae.datasets.participants import fetch_participants, load_mask
from pynet_cvae.registry import Fetchers

BALL_RADIUS_MM = 14.0


def _ball(shape, affine, brightness):
    """A bright ball of radius 14 mm centred on world (0, 0, 0), with a gradient."""
    indices = np.indices(shape).reshape(3, -1)
    world = affine[:3, :3] @ indices + affine[:3, 3:4]
    radius = np.sqrt((world ** 2).sum(axis=0))
    values = np.where(radius < BALL_RADIUS_MM, brightness * (1 + world[0] / 100), 0.0)
    return values.reshape(shape).astype(np.float32)


def _radius_mm(shape, affine):
    indices = np.indices(shape).reshape(3, -1)
    world = affine[:3, :3] @ indices + affine[:3, 3:4]
    return np.sqrt((world ** 2).sum(axis=0)).reshape(shape)


def _affine(size, shape, flip=False):
    affine = np.diag([size, size, size, 1.0])
    affine[:3, 3] = -size * (np.array(shape) - 1) / 2
    if flip:  # a left-right flipped image of the same world
        affine[0, 0] *= -1
        affine[0, 3] *= -1
    return affine


@pytest.fixture
def participants(tmp_path):
    """Six subjects scanned on different grids (shapes, voxel sizes, a flip)."""
    grids = [((20, 20, 20), 2.0, False), ((22, 18, 20), 2.0, True), ((40, 40, 40), 1.0, False),
             ((20, 20, 20), 2.0, True), ((16, 16, 16), 2.5, False), ((20, 24, 20), 2.0, False)]
    rows = []
    for index, (shape, size, flip) in enumerate(grids):
        affine = _affine(size, shape, flip)
        path = f"sub-{index:02d}/anat/sub-{index:02d}_T1w.nii.gz"
        (tmp_path / path).parent.mkdir(parents=True)
        nibabel.save(nibabel.Nifti1Image(_ball(shape, affine, 100.0 + index), affine),
                     str(tmp_path / path))
        rows.append({"participant_id": f"sub-{index:02d}", "t1": path, "age": 20.0 + 10 * index,
                     "sex": "MF"[index % 2], "site": ["paris", "lyon"][index % 2]})
    table = tmp_path / "participants.tsv"
    pd.DataFrame(rows).to_csv(table, sep="\t", index=False)
    return table, grids


def test_a_table_of_images_on_different_grids_becomes_one_resampled_data_set(participants):
    table, grids = participants
    item = fetch_participants(table, "t1", covariates=["age", "sex", "site"],
                              categorical=["sex", "site"], voxel_size=4.0)
    assert Fetchers.get("fetch_participants") is fetch_participants
    assert os.path.basename(item.input_path) == "participants_t1_4mm_inputs.npy"
    inputs = np.load(item.input_path, mmap_mode="r")
    assert isinstance(inputs, np.memmap) and inputs.shape == (6, 1, 10, 10, 10)
    reference = NiftiReference.load(item.reference_path)
    assert reference.grid.voxel_sizes == pytest.approx((4.0, 4.0, 4.0))
    assert np.allclose(reference.affines, reference.grid.affine)
    for row, (shape, _, flip) in enumerate(grids):  # each subject's own space is kept
        assert tuple(reference.native_grid(row).shape) == shape
        assert np.sign(reference.native_affines[row][0, 0]) == (-1 if flip else 1)
    # Every image lands in the same world place: the flipped ones are not mirrored.
    centre = np.array(inputs[:, 0, 3:7, 3:7, 3:7]).mean(axis=(1, 2, 3))
    brightness = 100.0 + np.arange(6)
    np.testing.assert_allclose(centre, brightness, rtol=0.02)
    left = np.array(inputs[:, 0, 2, 5, 5]) / brightness
    right = np.array(inputs[:, 0, 7, 5, 5]) / brightness
    assert (right > left).all()  # the gradient along world x survives every flip


def test_the_automatic_mask_is_the_ball_and_its_sidecar_says_how(participants):
    table, _ = participants
    item = fetch_participants(table, "t1", voxel_size=4.0)
    mask = load_mask(item.mask_path)
    image = nibabel.load(item.mask_path)
    reference = NiftiReference.load(item.reference_path)
    np.testing.assert_allclose(image.affine, reference.grid.affine)
    radius = _radius_mm(mask.shape, reference.grid.affine)
    assert mask[radius < BALL_RADIUS_MM - 4].all() and not mask[radius > BALL_RADIUS_MM + 6].any()
    recipe = json.loads(open(item.mask_path.replace(".nii.gz", ".json")).read())
    assert recipe["mask"] == "auto" and recipe["threshold"] == 0.2
    stamp = os.stat(item.mask_path).st_mtime_ns
    assert fetch_participants(table, "t1", voxel_size=4.0) == item
    assert os.stat(item.mask_path).st_mtime_ns == stamp  # reused
    fetch_participants(table, "t1", voxel_size=4.0, mask_threshold=0.5)
    assert os.stat(item.mask_path).st_mtime_ns != stamp  # another recipe: made again


def test_a_given_mask_in_another_space_is_brought_onto_the_grid(participants, tmp_path):
    table, _ = participants
    affine = _affine(1.0, (40, 40, 40))
    cube = np.zeros((40, 40, 40), dtype=np.uint8)
    cube[12:28, 12:28, 12:28] = 1  # 16 mm on a side, centred
    nibabel.save(nibabel.Nifti1Image(cube, affine), str(tmp_path / "cube.nii.gz"))
    item = fetch_participants(table, "t1", voxel_size=4.0, mask=tmp_path / "cube.nii.gz")
    assert load_mask(item.mask_path).sum() == 4 ** 3
    with pytest.raises(FileNotFoundError, match="missing.nii.gz"):
        fetch_participants(table, "t1", voxel_size=4.0, mask=tmp_path / "missing.nii.gz")


def test_results_go_back_to_each_subjects_own_grid(participants, tmp_path):
    table, grids = participants
    item = fetch_participants(table, "t1", voxel_size=4.0)
    inputs = np.load(item.input_path, mmap_mode="r")
    paths = write_nifti(inputs[[1, 2]], item.reference_path, tmp_path / "native",
                        rows=[1, 2], space="native")
    for path, row in zip(paths, (1, 2)):
        written = nibabel.load(path)
        source = nibabel.load(str(table.parent / f"sub-{row:02d}/anat/sub-{row:02d}_T1w.nii.gz"))
        assert written.shape == source.shape
        np.testing.assert_allclose(written.affine, source.affine)
        # The round trip (to 4 mm and back) keeps the ball where it was.
        radius = _radius_mm(source.shape, source.affine)
        core = radius < BALL_RADIUS_MM - 6
        np.testing.assert_allclose(np.asarray(written.dataobj)[core],
                                   source.get_fdata()[core], rtol=0.05)
        assert np.abs(np.asarray(written.dataobj)[radius > BALL_RADIUS_MM + 8]).max() < 0.1
    on_grid = write_nifti(inputs[[1]], item.reference_path, tmp_path / "grid", rows=[1])
    assert nibabel.load(on_grid[0]).shape == (10, 10, 10)
    with pytest.raises(ValueError, match="space 'scanner'"):
        write_nifti(inputs[[1]], item.reference_path, tmp_path, rows=[1], space="scanner")


def test_the_data_set_feeds_a_data_manager_with_covariates(participants):
    table, _ = participants
    item = fetch_participants(table, "t1", covariates=["age", "sex", "site"],
                              categorical=["sex", "site"], voxel_size=4.0)
    manager = DataManager(item.input_path, item.metadata_path, labels=["age"],
                          continuous_labels=True, number_of_folds=1, test_size=0,
                          batch_size=3, custom_stratification={"train": {"site": "paris"}})
    batch = next(iter(manager.get_dataloader(train=True).train))
    assert tuple(batch.inputs.shape) == (3, 1, 10, 10, 10)
    assert sorted(batch.labels.tolist()) == [20.0, 40.0, 60.0]


def test_without_voxel_size_images_must_share_one_shape(participants):
    table, _ = participants
    with pytest.raises(ValueError, match="expected the same shape for every image"):
        fetch_participants(table, "t1")


@pytest.mark.parametrize("change, message", [
    ({"age": ["20", "thirty", "40", "50", "60", "70"]}, "continuous covariate 'age' .* "
                                                         "'thirty' in row 1"),
    ({"site": ["paris", "", "lyon", "lyon", "paris", "lyon"]}, "categorical covariate "
                                                                "'site' .* row 1"),
])
def test_bad_covariates_are_named_before_any_conversion(participants, change, message):
    table, _ = participants
    frame = pd.read_csv(table, sep="\t")
    for column, values in change.items():
        frame[column] = values
    frame.to_csv(table, sep="\t", index=False)
    with pytest.raises(ValueError, match=message):
        fetch_participants(table, "t1", covariates=["age", "site"], categorical=["site"],
                           voxel_size=4.0)
    assert not list(table.parent.glob("*_inputs.npy"))
    with pytest.raises(ValueError, match="'weight'"):
        fetch_participants(table, "t1", covariates=["weight"], voxel_size=4.0)
