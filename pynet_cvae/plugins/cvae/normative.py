"""The zoo's conditional VAE as a normative model.

:class:`CVAENormativeModel` is a :class:`~pynet_cvae.normative.protocol.NormativeModel`
around :class:`~pynet_cvae.plugins.cvae.ConditionalCVAE` with 3-D convolutional
networks (:class:`~pynet_cvae.plugins.cvae.networks.VolumeTrunk` and
:class:`~pynet_cvae.plugins.cvae.networks.VolumeDecoder`), a Gaussian likelihood and
the covariates as its condition (continuous age, categorical sex and site: a
:class:`~pynet_cvae.conditions.Condition` learned on the training table). It
learns the healthy brain as ``p(x | z, c)``: ``z`` holds what the covariates do not
say about a subject.

- :meth:`CVAENormativeModel.fit` trains the network on the healthy training images
  with the project's training loop (:class:`~pynet_cvae.interfaces.DeepLearningInterface`
  and the model's objective), the recipe ``pynet-cvae train --recipe normative``
  trains from the command line; :meth:`CVAENormativeModel.from_run` takes such a
  trained run, and its :meth:`~CVAENormativeModel.fit` then only checks the data
  (and learns the spreads below).
- :meth:`CVAENormativeModel.predict` encodes each subject under its observed
  covariates (the mean of ``q(z | x, c)``) and decodes it under the requested ones:
  the reconstruction with the true covariates is the expected image the z-scores
  measure the subject against, and with other covariates it is the subject's
  counterfactual (another age, the reference site: harmonisation without keeping
  the residual). A reconstruction is smoother than an image: the calibration on
  held-out healthy subjects (:mod:`~pynet_cvae.normative.scoring`) standardises that.
- Its decoder adds to the convolutions' output every voxel's own cubic polynomial of
  age and its sex and site offsets (``condition_map=3``: the baseline's per-voxel
  regression inside the network), and its objective a latent independence term of
  weight 300
  (:class:`~pynet_cvae.plugins.cvae.objective.LatentIndependence`): without them the
  reconstructions fitted held-out subjects worse than the baseline and the latent
  code told the site, which harmonised images then kept
  (:data:`~pynet_cvae.plugins.cvae.recipes.NORMATIVE_MODEL`).
- Sites differ in noise: :meth:`CVAENormativeModel.fit` also learns each site's
  per-voxel spread of the training residuals (a
  :class:`~pynet_cvae.normative.spread.GroupSpread`, as the mass-univariate baseline
  does), which :meth:`~CVAENormativeModel.predict` returns with the reconstruction.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from ...conditions import Condition
from ...interfaces import set_num_threads
from ...normative.covariates import covariate_kinds
from ...normative.protocol import Expectation
from ...normative.spread import GroupSpread
from .recipes import NORMATIVE_EPOCHS, NORMATIVE_MODEL
from .zoo.conditional.model import ConditionalCVAE

logger = logging.getLogger("pynet_cvae")

__all__ = ["CVAENormativeModel"]

class CVAENormativeModel:
    """A conditional VAE of 3-D brain images given covariates (see the module).

    Parameters
    ----------
    continuous : sequence of str
        Continuous covariates (standardised in the condition).
    categorical : sequence of str
        Categorical covariates (one-hot in the condition).
    spread_by : str, optional
        The categorical covariate whose groups get their own residual spread
        (default ``"site"``); None pools every subject.
    epochs : int
        Training epochs of :meth:`fit` (default
        :data:`~pynet_cvae.plugins.cvae.recipes.NORMATIVE_EPOCHS`, 80: fewer leave the
        counterfactual ageing backwards on the synthetic cohort).
    batch_size : int
        Images per training batch (and per prediction batch).
    learning_rate : float
        Adam's learning rate.
    seed : int
        Seeds the weights and the shuffling.
    threads : int, optional
        torch threads while training and predicting (default: torch's choice).
    device : str
        Where the network runs (``"cpu"``, ``"cuda"``...).
    progress : bool, optional
        Show the training's progress bar (default: on a terminal only).
    **model
        Fields of :class:`~pynet_cvae.plugins.cvae.zoo.conditional.ConditionalConfig`
        overriding :data:`~pynet_cvae.plugins.cvae.recipes.NORMATIVE_MODEL`, the
        normative recipe's (``latent_dim=32``...).

    Attributes
    ----------
    network : ConditionalCVAE or None
        The trained network.
    history : History or None
        The training history of :meth:`fit`.
    spread : GroupSpread
        The per-group residual spreads learned by :meth:`fit`.
    """

    def __init__(self, continuous: Sequence[str] = ("age",),
                 categorical: Sequence[str] = ("sex", "site"),
                 spread_by: Optional[str] = "site", epochs: int = NORMATIVE_EPOCHS,
                 batch_size: int = 16, learning_rate: float = 2e-3, seed: int = 0,
                 threads: Optional[int] = None, device: str = "cpu",
                 progress: Optional[bool] = None, **model: Any):
        self.kinds = covariate_kinds(continuous, categorical)
        if spread_by is not None and spread_by not in categorical:
            raise ValueError(f"spread_by {spread_by!r} is not a categorical covariate "
                             f"{list(categorical)}: expected one of them, or None")
        self.spread = GroupSpread(spread_by)
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} {value!r} is invalid: expected an int >= 1")
        if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate)
                and learning_rate > 0):
            raise ValueError(f"learning_rate {learning_rate!r} is invalid: expected a "
                             "finite number > 0")
        self.epochs, self.batch_size = epochs, batch_size
        self.learning_rate, self.seed = float(learning_rate), int(seed)
        self.threads, self.device, self.progress = threads, device, progress
        self.model_fields = {**NORMATIVE_MODEL, **model}
        self.network: Any = None
        self.history: Any = None
        self.trained = False

    # ------------------------------------------------------------------ building
    @classmethod
    def from_run(cls, checkpoint: str, batch_size: int = 16, threads: Optional[int] = None,
                 device: str = "cpu", spread_by: Optional[str] = "site") -> "CVAENormativeModel":
        """A model trained by ``pynet-cvae train --recipe normative`` (or saved by
        :meth:`fit` through such a run).

        Parameters
        ----------
        checkpoint : str
            A checkpoint file, or a run (or checkpoints) folder: its latest checkpoint.
        batch_size : int
            Subjects predicted at a time.
        threads : int, optional
            torch threads while predicting.
        device : str
            Where the network runs.
        spread_by : str, optional
            Of the constructor (ignored when the run's condition has no such
            categorical covariate).

        Returns
        -------
        CVAENormativeModel
            Trained: its :meth:`fit` checks the data and learns only the spreads.
        """
        from .commands.sample import resolve_checkpoint
        from ...trained import load_trained_model

        path = resolve_checkpoint(checkpoint)
        network, config = load_trained_model(path, map_location=device)
        condition = getattr(network, "condition", None)
        shape = getattr(network, "image_shape", ())
        if condition is None or len(shape) != 3:
            raise ValueError(f"the run of {path!r} trained {config['network']} on images "
                             f"of shape {tuple(shape)}: expected a conditional model of 3-D "
                             "volumes (pynet-cvae train --recipe normative)")
        kinds = {covariate.name: covariate.kind for covariate in condition.covariates}
        continuous = [name for name, kind in kinds.items() if kind == "continuous"]
        categorical = [name for name, kind in kinds.items() if kind == "categorical"]
        model = cls(continuous, categorical, batch_size=batch_size, threads=threads,
                    device=device, spread_by=spread_by if spread_by in categorical else None)
        model.kinds = kinds  # the condition's order
        model.network, model.trained = network, True
        logger.info("normative CVAE loaded from %s", path)
        return model

    def _build(self, covariates: pd.DataFrame, image_shape: Sequence[int]) -> Any:
        condition = Condition.from_metadata(covariates, self.kinds)
        shape = [int(side) for side in image_shape]
        return ConditionalCVAE(**{**self.model_fields, "input_dim": math.prod(shape),
                                  "image_shape": shape, "condition": condition.to_spec()})

    # ------------------------------------------------------------------ protocol
    def fit(self, images: Any, covariates: pd.DataFrame) -> "CVAENormativeModel":
        """Train the network on healthy images, then learn the spreads of their
        residuals (a model :meth:`from_run` trains nothing: the images' shape and the
        covariates are checked against it, and the spreads learned).

        Parameters
        ----------
        images : array-like
            ``(N, 1, X, Y, Z)`` healthy training images (read into memory: for data
            sets larger than memory, train with ``pynet-cvae train --recipe
            normative``, which reads them a batch at a time).
        covariates : pandas.DataFrame
            One row per image.

        Returns
        -------
        CVAENormativeModel
            Itself, trained.
        """
        if len(images) != len(covariates):
            raise ValueError(f"{len(images)} images but {len(covariates)} rows of "
                             "covariates: expected one row per image")
        shape = tuple(images.shape[1:])
        if len(shape) != 4 or shape[0] != 1:
            raise ValueError(f"images of shape {tuple(images.shape)}: expected (N, 1, X, Y, "
                             "Z) volumes of one channel")
        if self.trained:
            self._check_data(shape[1:], covariates)
        else:
            self._train(images, covariates, shape[1:])
        self._learn_spread(images, covariates)
        return self

    def _train(self, images: Any, covariates: pd.DataFrame, shape: Sequence[int]) -> None:
        from ...datasets import DataManager
        from ...datasets.transforms import Flatten
        from ...interfaces import DeepLearningInterface
        from ...seeding import seed_everything

        seed_everything(self.seed)
        network = self._build(covariates, shape)
        labels = network.condition.table_values(covariates).numpy().astype(np.float32)
        manager = DataManager.from_numpy(
            train_inputs=np.asarray(images[0:len(images)], dtype=np.float32),
            train_labels=labels, batch_size=self.batch_size, continuous_labels=True,
            input_transforms=[Flatten()], add_input=True, seed=self.seed)
        interface = DeepLearningInterface(
            model=network, learning_rate=self.learning_rate, loss=network.objective,
            add_labels=True, device=self.device, num_threads=self.threads,
            progress=self.progress)
        self.history, _ = interface.training(manager=manager, nb_epochs=self.epochs,
                                             with_validation=False)
        self.network, self.trained = interface.model.eval(), True

    def _learn_spread(self, images: Any, covariates: pd.DataFrame) -> None:
        """The spreads of the training images' residuals, a batch at a time."""
        def residuals():
            for start in range(0, len(images), self.batch_size):
                rows = slice(start, min(start + self.batch_size, len(images)))
                batch = np.asarray(images[rows], dtype=np.float32)
                table = covariates.iloc[rows].reset_index(drop=True)
                expected = self._reconstruct(table, batch, table)
                yield (self.spread.groups(table),
                       (batch - expected).reshape(len(batch), -1))

        self.spread.fit(residuals())

    def _check_data(self, shape: Sequence[int], covariates: pd.DataFrame) -> None:
        if tuple(shape) != tuple(self.network.image_shape):
            raise ValueError(f"images of shape {tuple(shape)} for a model trained on "
                             f"{tuple(self.network.image_shape)}: expected the run's data "
                             "(the same grid and voxel size)")
        self.network.condition.table_values(covariates)  # names missing columns, levels

    def predict(self, covariates: pd.DataFrame, images: Optional[Any] = None,
                observed: Optional[pd.DataFrame] = None) -> Expectation:
        """The subjects' images decoded under ``covariates``.

        Parameters
        ----------
        covariates : pandas.DataFrame
            The covariates to decode under (one row per image).
        images : array-like
            The subjects' ``(N, 1, X, Y, Z)`` images (needed: the model encodes them).
        observed : pandas.DataFrame, optional
            The covariates the images were acquired with, which they are encoded
            under (default: ``covariates``).

        Returns
        -------
        Expectation
            ``mean`` ``(N, 1, X, Y, Z)``, and ``spread`` of that shape: each subject's
            group spread under ``observed`` (None before :meth:`fit` has learned it).
        """
        if self.network is None:
            raise RuntimeError("CVAENormativeModel.predict before fit")
        if images is None:
            raise ValueError("the CVAE encodes each subject: predict needs the images")
        observed = covariates if observed is None else observed
        if not len(images) == len(covariates) == len(observed):
            raise ValueError(f"{len(images)} images, {len(covariates)} rows of covariates "
                             f"and {len(observed)} observed: expected one row per image")
        mean = self._reconstruct(covariates, images, observed)
        spread = self.spread.predict(observed).reshape(mean.shape) \
            if self.spread.spreads else None
        return Expectation(mean=mean, spread=spread)

    def _reconstruct(self, covariates: pd.DataFrame, images: Any,
                     observed: pd.DataFrame) -> np.ndarray:
        """The images encoded under ``observed`` and decoded under ``covariates``."""
        network, condition = self.network, self.network.condition
        device = next(network.parameters()).device
        shape = (len(images), 1) + tuple(network.image_shape)
        mean = np.empty(shape, dtype=np.float32)
        targets, sources = condition.table_values(covariates), condition.table_values(observed)
        set_num_threads(self.threads)
        with torch.no_grad():
            network.eval()
            for start in range(0, len(images), self.batch_size):
                rows = slice(start, min(start + self.batch_size, len(images)))
                x = torch.as_tensor(np.asarray(images[rows], dtype=np.float32),
                                    device=device).reshape(rows.stop - start, -1)
                z_mu, _ = network.encode_latent(x, condition.encode(sources[rows]).to(device))
                made = network.decode(z_mu, condition.encode(targets[rows]).to(device))
                mean[rows] = made.reshape((-1,) + shape[1:]).cpu().numpy()
        return mean

