"""
Normative modelling: deviation maps of brains with known truth
==============================================================

A normative model learns the healthy brain given covariates (age, sex, acquisition
site), then says how far each new subject deviates from the brain expected for its
own covariates, voxel by voxel and as one number. We generate a synthetic cohort from
the MNI152 template, whose ageing laws, site effects and lesions are known
(:func:`~pynet_cvae.datasets.cohort.fetch_synthetic_cohort`), fit the field's
standard baseline, one regression per voxel
(:class:`~pynet_cvae.normative.baseline.MassUnivariateModel`), calibrate its
z-scores on held-out healthy subjects, and measure how well it finds the lesions and
removes the sites (:func:`~pynet_cvae.normative.evaluation.run_normative`). Any model
that gives an expected image per subject plugs into the same scoring
(:mod:`~pynet_cvae.normative.protocol`), which also gives counterfactuals: a subject
at other ages. The second half does it all again with the model zoo's conditional VAE
of 3-D volumes (:class:`~pynet_cvae.plugins.cvae.CVAENormativeModel`), side by side
with the baseline. Everything runs offline; ``PYNET_CVAE_EXAMPLE_EPOCHS`` lowers the
CVAE's training epochs for a quick build.
"""

# %%
# A cohort with known truth
# -------------------------
#
# 240 subjects at 4 mm: half healthy training subjects, a sixth healthy calibration
# subjects, a sixth healthy test subjects and a sixth test subjects with one to
# three lesions. The ventricles widen, grey matter thins and the brain shrinks with
# age; three sites differ in intensity, bias field, blur and noise.

import os
import tempfile

import matplotlib.pyplot as plt
import nibabel
import numpy as np
import pandas as pd

from pynet_cvae.datasets import fetch_synthetic_cohort
from pynet_cvae.datasets.cohort import measure_ventricle_volume, ventricle_volume_curve
from pynet_cvae.normative import MassUnivariateModel, NormativeData, \
    check_counterfactual_ageing, counterfactual, run_normative
from pynet_cvae.normative.figures import plot_orthogonal, plot_slice_series
from pynet_cvae.plugins.cvae import CVAENormativeModel
from pynet_cvae.plugins.cvae.recipes import NORMATIVE_EPOCHS

workdir = tempfile.mkdtemp(prefix="pynet_cvae_normative_")
cohort = fetch_synthetic_cohort(workdir, n_subjects=240, voxel_size=4.0, seed=0)
data = NormativeData.from_item(cohort)
truth = pd.read_csv(cohort.truth_path, sep="\t")
template = nibabel.load(os.path.join(cohort.directory, "template_t1.nii.gz"))
affine = template.affine
print(data.table.head())
print("images:", data.images.shape, "brain voxels:", data.voxels)

# %%
# Three healthy subjects of one site at 25, 55 and 80 years, same axial slice:

site = data.table["site"] == "site1"
chosen = [int(np.argmin(np.abs(data.table["age"].where(site, np.inf) - age)))
          for age in (25, 55, 80)]
fig, axes = plt.subplots(1, 3, figsize=(8, 3))
for axis, row in zip(axes, chosen):
    axis.imshow(data.images[row, 0, :, :, 22].T, origin="lower", cmap="gray")
    axis.set_title(f"{data.table['participant_id'][row]}, "
                   f"{data.table['age'][row]:.0f} years", fontsize=9)
    axis.set_axis_off()
fig.tight_layout()

# %%
# The ventricles' volume: the law (the template aged without individual
# variation), each subject's truth, and what an intensity threshold measures on
# the images themselves (the measure a generated brain can be checked with).

template_ventricles = nibabel.load(
    os.path.join(cohort.directory, "template_ventricles.nii.gz")).get_fdata()
measured = measure_ventricle_volume(data.images, template_ventricles, data.mask,
                                    voxel_volume=64.0)
ages = np.linspace(20, 85, 14)
fig, axis = plt.subplots(figsize=(5.5, 3.5))
axis.scatter(data.table["age"], truth["ventricle_volume_ml"], s=8, label="truth")
axis.scatter(data.table["age"], measured, s=8, label="measured on the images")
axis.plot(ages, ventricle_volume_curve(ages, voxel_size=4.0), color="black",
          label="the law (template)")
axis.set_xlabel("age (years)")
axis.set_ylabel("lateral ventricles (ml)")
axis.legend(fontsize=8)
fig.tight_layout()
print("correlation of measured and true volumes:",
      round(float(np.corrcoef(measured, truth["ventricle_volume_ml"])[0, 1]), 3))

# %%
# The baseline, calibrated and scored
# -----------------------------------
#
# One regression per voxel on an intercept, age B-splines, sex and site, fitted on
# the training subjects; residual spread per voxel and site; z-scores standardised
# voxel by voxel on the calibration subjects.

model = MassUnivariateModel()
result = run_normative(model, data, lesion_column="lesion_mask", group_column="group")
for name in ("calibration_fraction", "voxel_auroc", "subject_auroc", "site_chance",
             "site_accuracy", "site_accuracy_harmonised", "age_r2", "age_r2_harmonised"):
    print(f"{name:<26} {result.metrics[name]:.3f}")

# %%
# Deviation maps over the template
# --------------------------------
#
# A lesioned test subject (the true lesion outlined in green) and a healthy test
# subject; ``|z| < 1.96`` is transparent.

scores = result.scores
lesioned = scores.index[scores["group"] == "lesion"][0]
healthy = scores.index[(scores["group"] == "control") & (scores["split"] == "test")][0]
for position, what in ((lesioned, "with lesions"), (healthy, "healthy")):
    row = int(result.rows[position])
    z_map = data.unmasked(result.z[position:position + 1])[0, 0]
    lesion = None
    if isinstance(data.table["lesion_mask"][row], str):
        lesion = nibabel.load(os.path.join(cohort.directory,
                                           data.table["lesion_mask"][row])).get_fdata()
    plot_orthogonal(z_map, affine, background=template.get_fdata(), contour=lesion,
                    vmax=8, title=f"{data.table['participant_id'][row]} ({what}): "
                                  f"deviation score {scores['deviation_score'][position]:.2f}")

# %%
# Calibration and detection
# -------------------------
#
# On healthy test subjects the z-scores follow the standard normal law (about 5 %
# beyond +/-1.96); the subject deviation score (mean of each subject's largest 1 %
# ``|z|``) separates the lesioned subjects from the healthy ones.

healthy_test = ((scores["split"] == "test") & (scores["group"] == "control")).to_numpy()
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
grid = np.linspace(-5, 5, 201)
left.hist(result.z[healthy_test].ravel(), bins=grid, density=True, alpha=0.6,
          label="healthy test subjects")
left.plot(grid, np.exp(-grid ** 2 / 2) / np.sqrt(2 * np.pi), color="black",
          label="N(0, 1)")
left.set_yscale("log")
left.set_ylim(1e-5, 1)
left.set_xlabel("z")
left.legend(fontsize=8)
for group, frame in scores[scores["split"] == "test"].groupby("group"):
    right.hist(frame["deviation_score"], bins=20, alpha=0.6, label=group)
right.set_xlabel("subject deviation score")
right.legend(fontsize=8)
fig.tight_layout()

# %%
# Counterfactual ageing
# ---------------------
#
# The protocol's :func:`~pynet_cvae.normative.protocol.counterfactual` shows a
# subject at other ages: the model's expected image at the requested age plus what
# the model does not explain of this subject (its residual at its true age). The
# same axial slice of one healthy test subject at four ages:

row = int(result.rows[healthy])
subject = data.rows([row])[:]
shown = (25, 45, 65, 85)
series = [counterfactual(model, data.covariates([row]), {"age": age}, subject)[0, 0]
          for age in shown]
plot_slice_series(series, affine, [f"{age} years" for age in shown], backgrounds=series,
                  threshold=np.inf, point=(0, -18, 16))

# %%
# The ventricles measured on such counterfactuals (ten healthy test subjects, every
# five years; left axis) against the law's curve (right axis)
# (:func:`~pynet_cvae.normative.ageing.check_counterfactual_ageing`). The measure,
# an intensity threshold, and the law, fractions of the template's ventricles, have
# their own scales: the shape is what must match.

test_controls = result.rows[healthy_test][:10]
check = check_counterfactual_ageing(model, data, cohort.directory, test_controls)
fig, axis = plt.subplots(figsize=(5.5, 3.5))
for volumes in check.measured_ml:
    axis.plot(check.ages, volumes, color="tab:blue", alpha=0.4, lw=1)
axis.set_xlabel("requested age (years)")
axis.set_ylabel("measured on counterfactuals (ml)", color="tab:blue")
law_axis = axis.twinx()
law_axis.plot(check.ages, check.law_ml, color="black", lw=2)
law_axis.set_ylabel("the law (ml)")
fig.tight_layout()
print(f"correlation with the law: {check.correlation:.3f} (subjects: "
      f"{check.correlations.min():.3f} to {check.correlations.max():.3f})")

# %%
# The conditional VAE
# -------------------
#
# The model zoo's :class:`~pynet_cvae.plugins.cvae.ConditionalCVAE` with 3-D
# convolutional networks, conditioned on age (standardised), sex and site (one-hot),
# trained on the same healthy training subjects with a Gaussian likelihood. Beside its
# convolutional decoder, every voxel has its own cubic polynomial of age and sex and
# site offsets, and a latent independence term keeps the latent code uncorrelated with
# the covariates. Its expected image of a subject is the subject encoded and decoded
# under its own covariates, divided, as the baseline's, by each site's residual
# spread; the same scoring calibrates its residuals on the calibration subjects.
# Its harmonised images are its reconstructions at the reference site
# (``keep_residual=False``).
#
# It trains for 80 epochs, its default (three to four minutes on two CPU cores): with
# fewer, its latent code still carries the ventricles, and the age in the condition
# compensates, so that its counterfactuals age backwards (at 20 epochs the ventricles
# of its older brains shrink; ``benchmarks/README.md`` has the figures).

EPOCHS = int(os.environ.get("PYNET_CVAE_EXAMPLE_EPOCHS", NORMATIVE_EPOCHS))
cvae = CVAENormativeModel(epochs=EPOCHS, progress=False)
cvae_result = run_normative(cvae, data, lesion_column="lesion_mask", group_column="group",
                            keep_residual=False)
print(f"{'':<26} {'baseline':>9} {'CVAE':>9}")
for name in ("calibration_fraction", "voxel_auroc", "subject_auroc", "site_accuracy",
             "site_accuracy_harmonised", "age_r2", "age_r2_harmonised", "fit_seconds"):
    print(f"{name:<26} {result.metrics[name]:>9.3f} {cvae_result.metrics[name]:>9.3f}")

# %%
# The CVAE's deviation maps of the same two subjects:

cvae_scores = cvae_result.scores
for position, what in ((lesioned, "with lesions"), (healthy, "healthy")):
    row = int(cvae_result.rows[position])
    z_map = data.unmasked(cvae_result.z[position:position + 1])[0, 0]
    lesion = None
    if isinstance(data.table["lesion_mask"][row], str):
        lesion = nibabel.load(os.path.join(cohort.directory,
                                           data.table["lesion_mask"][row])).get_fdata()
    plot_orthogonal(z_map, affine, background=template.get_fdata(), contour=lesion,
                    vmax=8, title=f"CVAE, {data.table['participant_id'][row]} ({what}): "
                                  f"deviation score "
                                  f"{cvae_scores['deviation_score'][position]:.2f}")

# %%
# The CVAE's counterfactual ageing: the same healthy test subject, encoded once
# under its own covariates and decoded at four ages.

series = [counterfactual(cvae, data.covariates([row]), {"age": age}, subject,
                         keep_residual=False)[0, 0] for age in shown]
plot_slice_series(series, affine, [f"{age} years" for age in shown], backgrounds=series,
                  threshold=np.inf, point=(0, -18, 16))

# %%
# And its ventricles measured on the counterfactuals of the ten healthy test
# subjects against the law:

cvae_check = check_counterfactual_ageing(cvae, data, cohort.directory, test_controls,
                                         keep_residual=False)
fig, axis = plt.subplots(figsize=(5.5, 3.5))
for volumes in cvae_check.measured_ml:
    axis.plot(cvae_check.ages, volumes, color="tab:orange", alpha=0.4, lw=1)
axis.set_xlabel("requested age (years)")
axis.set_ylabel("measured on CVAE counterfactuals (ml)", color="tab:orange")
law_axis = axis.twinx()
law_axis.plot(cvae_check.ages, cvae_check.law_ml, color="black", lw=2)
law_axis.set_ylabel("the law (ml)")
fig.tight_layout()
print(f"CVAE correlation with the law: {cvae_check.correlation:.3f} (subjects: "
      f"{cvae_check.correlations.min():.3f} to {cvae_check.correlations.max():.3f})")
