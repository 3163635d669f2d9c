"""
Writing a model for the zoo: a config, the terms of its objective, the model
============================================================================

A model of the CVAE plugin's zoo (:mod:`pynet_cvae.plugins.cvae.zoo`) is three
small things: a typed config (a dataclass), the list of terms its objective sums
(:mod:`pynet_cvae.plugins.cvae.objective`), and the model, which builds its networks
from registered names and says what its forward gives the terms. Everything else
comes with it: training with ``model.objective`` as the loss, the generation
interface (``sample``, ``reconstruct``, ``interpolate``), the sampling observer,
``pynet-cvae sample`` and ``evaluate``, KL warm-up.

This page writes an *InfoVAE*-style CVAE (Zhao et al. 2019): a small KL term lets
each code carry more about its image, and a maximum mean discrepancy (MMD) between
the codes of the batch and draws of the prior pulls the codes' overall distribution
to N(0, I), so that prior draws still decode into digits. A term of our own, a model
of our own, trained on the embedded digits.
"""

# %%
# The config
# ----------
#
# One dataclass: each field is an option with its default, documented in the
# docstring (the command line's ``--help`` shows the same text). The model is
# rebuilt from these fields alone (``model_config.json``).

import os
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from pynet_cvae.datasets import DataManager, fetch_digits
from pynet_cvae.datasets.transforms import Flatten
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plugins.cvae import Condition, sample_grid
from pynet_cvae.plugins.cvae.networks import GaussianHead, build_network
from pynet_cvae.plugins.cvae.objective import KLDivergence, Objective, Reconstruction, Term
from pynet_cvae.plugins.cvae.zoo import ZooModel
from pynet_cvae.registry import Networks

NB_EPOCHS = int(os.environ.get("PYNET_CVAE_EXAMPLE_EPOCHS", "40"))


@dataclass
class InfoConfig:
    """A CVAE whose codes are also pulled to the prior by an MMD term.

    Parameters
    ----------
    input_dim : int, default 64
        The size of a flattened image.
    hidden_dim : int, default 128
        The size of the hidden layers.
    latent_dim : int, default 4
        The latent dimension.
    n_classes : int, default 10
        The classes of the condition.
    kl_weight : float, default 0.1
        The weight of KL(q(z|x, c) || N(0, I)).
    mmd_weight : float, default 10.0
        The weight of the MMD between the batch's codes and prior draws.
    """

    input_dim: int = 64
    hidden_dim: int = 128
    latent_dim: int = 4
    n_classes: int = 10
    kl_weight: float = 0.1
    mmd_weight: float = 10.0


# %%
# A term of the objective
# -----------------------
#
# A term has a ``name`` (its value is reported under it), a ``weight`` and a
# ``value(outputs, x)`` computed from the model's ``layer_outputs``. Its weight is
# the model's; a schedule may scale it.


class MaximumMeanDiscrepancy(Term):
    """The MMD between the codes ``z`` and prior draws: the unbiased estimate with a
    Gaussian kernel."""

    name = "mmd"

    def value(self, outputs, x):
        codes = outputs["z"]
        draws = torch.randn_like(codes)
        count = codes.shape[0]

        def kernel(first, second):
            return torch.exp(-torch.cdist(first, second) ** 2 / codes.shape[1])

        within = (kernel(codes, codes).sum() + kernel(draws, draws).sum() - 2 * count) \
            / (count * (count - 1))
        return within - 2 * kernel(codes, draws).mean()


# %%
# The model
# ---------
#
# A :class:`~pynet_cvae.plugins.cvae.zoo.ZooModel` takes its config (or keyword
# arguments naming its fields), builds its networks from registered names
# (:func:`~pynet_cvae.plugins.cvae.networks.build_network`: a dense trunk here,
# ``Conv2dTrunk`` just as well) and lists its terms in ``objective_terms``. For the
# generation interface it gives ``condition``, ``encode_latent`` and ``decode``.
# ``@Networks.register`` makes it a registered network, trainable by name.


@Networks.register
class InfoCVAE(ZooModel):
    """A CVAE with an MMD term (see this page)."""

    config_class = InfoConfig
    has_classifier = False

    def __init__(self, config=None, **fields):
        super().__init__(config, **fields)
        config = self.config
        self.input_dim, self.latent_dim = config.input_dim, config.latent_dim
        self.condition = Condition.classes(config.n_classes)
        shape = (8, 8)
        self.trunk = build_network("DenseTrunk", "encoder", shape, config.hidden_dim)
        self.head = GaussianHead(config.hidden_dim, self.condition.width, config.hidden_dim,
                                 config.latent_dim)
        self.decoder = build_network("DenseDecoder", "decoder",
                                     config.latent_dim + self.condition.width,
                                     config.hidden_dim, shape)
        self.objective = Objective(self.objective_terms())

    def objective_terms(self):
        return [Reconstruction(), KLDivergence(self.config.kl_weight),
                MaximumMeanDiscrepancy(self.config.mmd_weight)]

    def encode_latent(self, x, condition):
        return self.head(self.trunk(x), condition)

    def decode(self, z, condition):
        return torch.sigmoid(self.decoder(torch.cat([z, condition], dim=1)))

    def forward(self, x, labels):
        condition = self.condition.encode(labels).to(x.dtype)
        z_mu, z_var = self.encode_latent(x, condition)
        z = z_mu + torch.randn_like(z_mu) * torch.exp(z_var / 2)
        x_logits = self.decoder(torch.cat([z, condition], dim=1))
        return torch.sigmoid(x_logits), {"z_mu": z_mu, "z_var": z_var, "z": z,
                                         "x_logits": x_logits}


model = InfoCVAE(latent_dim=4)
print(model.objective)

# %%
# Train it
# --------
#
# The objective is the loss; the model takes each image's class
# (``add_labels=True``).

torch.manual_seed(0)
data = fetch_digits()
manager = DataManager(
    input_path=data.input_path, metadata_path=data.metadata_path, labels=["label"],
    projection_labels={"split": "train"}, number_of_folds=5, batch_size=64, test_size=0,
    input_transforms=[Flatten()], add_input=True)
interface = DeepLearningInterface(model=model, learning_rate=3e-3, loss=model.objective,
                                  add_labels=True, progress=False)
train_history, validation_history = interface.training(manager, nb_epochs=NB_EPOCHS,
                                                       fold_index=0)

fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
for axis, name in zip(axes, ["reconstruction", "kl", "mmd"]):
    for history in (train_history, validation_history):
        steps, values = history[name]
        axis.plot([epoch for _, epoch in steps], values, label=history.name)
    axis.set_title(name)
    axis.set_xlabel("epoch")
    axis.legend()
fig.tight_layout()

# %%
# Generate
# --------
#
# The generation interface works as for every model of the zoo: one row per
# class, one column per latent draw (the same draw down a column).

fig, axis = plt.subplots(figsize=(5, 6))
axis.imshow(sample_grid(model, n_columns=8, seed=0), cmap="gray")
axis.set_axis_off()
axis.set_title("InfoCVAE samples (rows: classes)")
fig.tight_layout()

# %%
# Make it a member of the zoo
# ---------------------------
#
# In the plugin, a family is a folder, ``zoo/<family>/``, holding ``config.py``
# (the dataclass), ``model.py`` (the model, its terms when they are its own) and
# an ``__init__.py`` exporting both; one import line in ``zoo/__init__.py``
# registers it. ``zoo/prior/`` (:class:`~pynet_cvae.plugins.cvae.zoo.prior.LearnedPriorCVAE`,
# a learned conditional prior p(z|c)) was added exactly so. In a package of your
# own, the same module declared in the ``pynet_cvae.plugins`` entry-point group
# (see :doc:`plot_custom_plugin`) makes the model available everywhere, the command
# line included: its config's fields become flags documented by the docstring, and
# its objective is the loss::
#
#     pynet-cvae train --recipe network --network InfoCVAE --model.mmd_weight 10 \
#         --epochs 40 --output runs/info
#     pynet-cvae sample --checkpoint runs/info --out info.png
