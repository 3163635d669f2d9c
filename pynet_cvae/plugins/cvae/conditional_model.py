"""A CVAE whose encoder sees the class, q(z|x, y), so that generation follows it.

In the tutorial's recipe (:class:`~pynet_cvae.plugins.cvae.CVAE`) the encoder never
sees the class, so the class also lives in z and the decoder can ignore its one-hot
input. Here, as in Sohn et al. (2015) and Kingma et al. (2014)'s M2 model, the encoder
is conditioned on the class and the decoder is trained with the *true* class of each
labelled image: z only has to encode what the class does not say (style), and the
one-hot decides the class of a generated image.

Labels may be missing (any negative class id, e.g. ``-1``): the class of an unlabelled
image is then marginalised under the classifier q(y|x) (``unlabelled="marginal"``,
every class decoded) or sampled from it with a Gumbel-softmax
(``unlabelled="sample"``); :class:`~pynet_cvae.plugins.cvae.ConditionalELBOLoss` turns
these outputs into the semi-supervised objective.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as func
from torch.func import functional_call

from ...distributed import batch_noise_like
from ...registry import Networks
from .augmentation import strong_view, weak_view
from .generation import GenerativeMixin

ARCHITECTURES = ("mlp", "conv")
UNLABELLED_MODES = ("marginal", "sample")
_CHANNELS = (32, 64)


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class _ImageTrunk(nn.Module):
    """Flattened images to ``hidden_dim`` features: one dense layer, or two strided
    convolutions and a dense layer."""

    def __init__(self, architecture: str, input_dim: int, hidden_dim: int,
                 image_shape: Tuple[int, int]) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        if architecture == "mlp":
            self.layers = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU())
            self.convolutional = False
        else:
            height, width = self.image_shape
            self.layers = nn.Sequential(
                nn.Conv2d(1, _CHANNELS[0], 4, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(_CHANNELS[0], _CHANNELS[1], 4, stride=2, padding=1), nn.ReLU(),
                nn.Flatten(),
                nn.Linear(_CHANNELS[1] * (height // 4) * (width // 4), hidden_dim), nn.ReLU())
            self.convolutional = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.convolutional:
            x = x.reshape(x.shape[0], 1, *self.image_shape)
        return self.layers(x)


class LabelledEncoderHead(nn.Module):
    """q(z|x, y): image features and a (one-hot) class to a Gaussian's mean and log-variance.

    Parameters
    ----------
    hidden_dim : int
        The size of the image features and of the hidden layer.
    latent_dim : int
        The latent dimension.
    n_classes : int
        The number of classes.
    """

    def __init__(self, hidden_dim: int, latent_dim: int, n_classes: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(hidden_dim + n_classes, hidden_dim)
        self.mu = nn.Linear(hidden_dim, latent_dim)
        self.var = nn.Linear(hidden_dim, latent_dim)

    def forward(self, features: torch.Tensor, onehot: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian's parameters.

        Parameters
        ----------
        features : torch.Tensor
            ``(batch, hidden_dim)`` image features.
        onehot : torch.Tensor
            ``(batch, n_classes)`` one-hot (or soft) classes.

        Returns
        -------
        z_mu, z_var : torch.Tensor
            Mean and log-variance, ``(batch, latent_dim)`` each.
        """
        hidden = func.relu(self.hidden(torch.cat([features, onehot], dim=1)))
        return self.mu(hidden), self.var(hidden)


class LabelledDecoder(nn.Module):
    """p(x|z, y): a latent vector and a (one-hot) class to the logits of each pixel.

    Parameters
    ----------
    architecture : {"mlp", "conv"}
        One hidden dense layer, or two dense layers and two transposed convolutions.
    latent_dim, hidden_dim, input_dim, n_classes : int
        The sizes of z, of the hidden layer, of a flattened image and of the one-hot.
    image_shape : tuple of int
        ``(height, width)`` of an image (used by the convolutional decoder).
    """

    def __init__(self, architecture: str, latent_dim: int, hidden_dim: int, input_dim: int,
                 n_classes: int, image_shape: Tuple[int, int]) -> None:
        super().__init__()
        self.input_dim = input_dim
        if architecture == "mlp":
            self.layers = nn.Sequential(
                nn.Linear(latent_dim + n_classes, hidden_dim), nn.ReLU(),
                nn.Linear(hidden_dim, input_dim))
        else:
            height, width = (side // 4 for side in image_shape)
            self.layers = nn.Sequential(
                nn.Linear(latent_dim + n_classes, hidden_dim), nn.ReLU(),
                nn.Linear(hidden_dim, _CHANNELS[1] * height * width), nn.ReLU(),
                nn.Unflatten(1, (_CHANNELS[1], height, width)),
                nn.ConvTranspose2d(_CHANNELS[1], _CHANNELS[0], 4, stride=2, padding=1),
                nn.ReLU(),
                nn.ConvTranspose2d(_CHANNELS[0], 1, 4, stride=2, padding=1))

    def forward(self, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """The pixel logits.

        Parameters
        ----------
        z : torch.Tensor
            ``(batch, latent_dim)`` latent vectors.
        onehot : torch.Tensor
            ``(batch, n_classes)`` one-hot (or soft) classes.

        Returns
        -------
        torch.Tensor
            ``(batch, input_dim)`` logits.
        """
        return self.layers(torch.cat([z, onehot], dim=1)).reshape(z.shape[0], self.input_dim)


@Networks.register
class ConditionalCVAE(GenerativeMixin, nn.Module):
    """A CVAE with a class-conditioned encoder q(z|x, y) and semi-supervised training.

    Call it as ``model(x, labels)`` (``DeepLearningInterface(..., add_labels=True)``):
    labelled images (``labels >= 0``) are encoded and decoded with their true class;
    unlabelled ones (a negative label, or ``labels=None``) with the classifier's.

    Parameters
    ----------
    input_dim : int
        The size of a flattened image.
    hidden_dim : int, default 512
        The size of the hidden layers.
    latent_dim : int, default 20
        The latent dimension.
    n_classes : int, default 10
        The number of classes.
    architecture : {"mlp", "conv"}, default "mlp"
        Dense networks, or strided convolutions in the encoder, the classifier and
        the decoder (``image_shape`` sides must be multiples of 4).
    image_shape : tuple of int, optional
        ``(height, width)``; by default the square root of ``input_dim``.
    shared_trunk : bool, default True
        The classifier is a linear layer on the encoder's image features, so the
        features learnt from unlabelled images (reconstruction) serve the
        classifier too; False gives the classifier its own trunk.
    consistency_samples : int, default 0
        In training, decode this many prior draws z ~ N(0, I) with random classes and
        classify them with the classifier's weights frozen: the
        ``generated_logits`` / ``generated_labels`` outputs, whose cross-entropy
        (``ConditionalELBOLoss(consistency_weight=...)``) asks the decoder to draw
        the requested class.
    unlabelled : {"marginal", "sample"}, default "marginal"
        How unlabelled images are trained: every class decoded and weighted by
        q(y|x), or one class sampled from q(y|x) (Gumbel-softmax, cheaper).
    temperature : float, default 1.0
        The Gumbel-softmax temperature of the sampled classes
        (:class:`~pynet_cvae.plugins.cvae.TemperatureSchedule` anneals it).
    hard : bool, default True
        Sample one-hot classes (straight-through gradients) rather than soft ones.
    pseudo_labels : bool, default False
        In training, also teach the classifier on unlabelled images (FixMatch, Sohn et
        al. 2020): the class it gives a weakly augmented view
        (:func:`~pynet_cvae.plugins.cvae.augmentation.weak_view`) with a probability of
        at least ``pseudo_label_threshold`` becomes the target of a strongly augmented
        view (:func:`~pynet_cvae.plugins.cvae.augmentation.strong_view`); labelled
        images train the classifier on a weak view. The ``pseudo_logits``,
        ``pseudo_labels``, ``pseudo_mask`` and ``augmented_logits`` outputs carry it to
        ``ConditionalELBOLoss(pseudo_label_weight=...)``.
    pseudo_label_threshold : float, default 0.95
        The confidence a guess needs to become a target, in (0, 1].
    augment_flip : bool, default False
        The augmented views are also mirrored left to right at random (for classes a
        mirror does not change, such as clothes; not for digits).
    elbo_trains_classifier : bool, default True
        Whether the ELBO of unlabelled images (through the class it sums or samples
        under q(y|x), and its KL(q(y|x) || uniform), which favours uncertain guesses)
        trains the classifier, as in M2. With False the classifier learns from labels
        and pseudo-labels only (``elbo_logits``, the detached logits, carry q(y|x) to
        the ELBO); with ``shared_trunk`` the ELBO still trains the shared trunk
        through the encoder, so give the classifier its own trunk.
    classifier_average : float, default 0.0
        When in (0, 1): keep an exponential moving average of the classifier's weights
        (its trunk and head) with this decay, updated at each training forward pass,
        and classify with it in evaluation (Polyak averaging, as semi-supervised
        methods evaluate; Tarvainen and Valpola 2017). Training always uses the live
        weights. The averages are buffers, saved in checkpoints.

    Notes
    -----
    ``forward`` returns the reconstruction in [0, 1] and the ``layer_outputs``
    ``{"z_mu", "z_var", "logits", "y", "labels", "x_logits"}`` (``labels`` with -1 for
    unlabelled images), plus in training ``marginal_rows``, ``marginal_x_logits``,
    ``marginal_z_mu``, ``marginal_z_var`` (one row per unlabelled image and class)
    and ``generated_logits``, ``generated_labels`` as configured, and the
    pseudo-labelling outputs described above.
    """

    def __init__(self, input_dim: int, hidden_dim: int = 512, latent_dim: int = 20,
                 n_classes: int = 10, architecture: str = "mlp",
                 image_shape: Optional[Sequence[int]] = None, shared_trunk: bool = True,
                 consistency_samples: int = 0, unlabelled: str = "marginal",
                 temperature: float = 1.0, hard: bool = True, pseudo_labels: bool = False,
                 pseudo_label_threshold: float = 0.95, augment_flip: bool = False,
                 elbo_trains_classifier: bool = True, classifier_average: float = 0.0
                 ) -> None:
        super().__init__()
        for name, value in (("input_dim", input_dim), ("hidden_dim", hidden_dim),
                            ("latent_dim", latent_dim), ("n_classes", n_classes)):
            _check_positive(name, value)
        self.image_shape = self._check_shape(architecture, input_dim, image_shape)
        if unlabelled not in UNLABELLED_MODES:
            raise ValueError(f"unlabelled must be one of {UNLABELLED_MODES}, got "
                             f"{unlabelled!r}")
        if isinstance(consistency_samples, bool) or not isinstance(consistency_samples, int) \
                or consistency_samples < 0:
            raise ValueError(f"consistency_samples must be an integer >= 0, got "
                             f"{consistency_samples!r}")
        if not 0 < pseudo_label_threshold <= 1:
            raise ValueError(f"pseudo_label_threshold must lie in (0, 1], got "
                             f"{pseudo_label_threshold!r}")
        self.pseudo_labels, self.augment_flip = bool(pseudo_labels), bool(augment_flip)
        self.pseudo_label_threshold = float(pseudo_label_threshold)
        self.elbo_trains_classifier = bool(elbo_trains_classifier)
        self.input_dim, self.hidden_dim = input_dim, hidden_dim
        self.latent_dim, self.n_classes = latent_dim, n_classes
        self.architecture, self.shared_trunk = architecture, bool(shared_trunk)
        self.consistency_samples, self.unlabelled = consistency_samples, unlabelled
        self.temperature, self.hard = float(temperature), bool(hard)
        self.encoder_trunk = _ImageTrunk(architecture, input_dim, hidden_dim, self.image_shape)
        self.classifier_trunk = None if self.shared_trunk else _ImageTrunk(
            architecture, input_dim, hidden_dim, self.image_shape)
        self.encoder_head = LabelledEncoderHead(hidden_dim, latent_dim, n_classes)
        self.classifier_head = nn.Linear(hidden_dim, n_classes)
        self.decoder = LabelledDecoder(architecture, latent_dim, hidden_dim, input_dim,
                                       n_classes, self.image_shape)
        if not 0 <= classifier_average < 1:
            raise ValueError(f"classifier_average must lie in [0, 1), got "
                             f"{classifier_average!r}")
        self.classifier_average = float(classifier_average)
        if self.classifier_average:
            for name, parameter in self._classifier_parameters().items():
                self.register_buffer(_average_name(name), parameter.detach().clone())

    @staticmethod
    def _check_shape(architecture: str, input_dim: int,
                     image_shape: Optional[Sequence[int]]) -> Tuple[int, int]:
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got "
                             f"{architecture!r}")
        if image_shape is None:
            side = int(round(input_dim ** 0.5))
            image_shape = (side, side)
        shape = tuple(int(side) for side in image_shape)
        if len(shape) != 2 or shape[0] * shape[1] != input_dim:
            raise ValueError(f"image_shape {tuple(image_shape)} does not hold input_dim "
                             f"{input_dim} pixels: expected (height, width) with "
                             "height * width == input_dim")
        if architecture == "conv" and (shape[0] % 4 or shape[1] % 4):
            raise ValueError(f"architecture 'conv' needs image sides that are multiples "
                             f"of 4, got image_shape {shape}")
        return shape

    # ------------------------------------------------------------------ parts
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's logits, q(y|x).

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` flattened images.

        Returns
        -------
        torch.Tensor
            ``(batch, n_classes)`` logits (of the averaged weights in evaluation, with
            ``classifier_average``).
        """
        if self.classifier_average and not self.training:
            return self._averaged_classify(x)
        return self.classifier_head(self._classifier_features(x))

    def encode_latent(self, x: torch.Tensor, onehot: torch.Tensor
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian q(z|x, y).

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` flattened images.
        onehot : torch.Tensor
            ``(batch, n_classes)`` one-hot (or soft) classes.

        Returns
        -------
        z_mu, z_var : torch.Tensor
            ``(batch, latent_dim)`` mean and log-variance.
        """
        return self.encoder_head(self.encoder_trunk(x), onehot.to(x.dtype))

    def decode_logits(self, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """The pixel logits of p(x|z, y).

        Parameters
        ----------
        z : torch.Tensor
            ``(batch, latent_dim)`` latent vectors.
        onehot : torch.Tensor
            ``(batch, n_classes)`` one-hot (or soft) classes.

        Returns
        -------
        torch.Tensor
            ``(batch, input_dim)`` logits.
        """
        return self.decoder(z, onehot.to(z.dtype))

    def decode(self, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """Decode latent vectors with classes into images.

        Parameters
        ----------
        z : torch.Tensor
            ``(batch, latent_dim)`` latent vectors.
        onehot : torch.Tensor
            ``(batch, n_classes)`` one-hot (or soft) classes.

        Returns
        -------
        torch.Tensor
            ``(batch, input_dim)`` images in [0, 1].
        """
        return torch.sigmoid(self.decode_logits(z, onehot))

    def generate(self, labels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Decode latent vectors with class ids (what the sampling observer calls).

        Parameters
        ----------
        labels : torch.Tensor
            ``(batch,)`` class ids.
        z : torch.Tensor
            ``(batch, latent_dim)`` latent vectors.

        Returns
        -------
        torch.Tensor
            ``(batch, input_dim)`` images in [0, 1].
        """
        return self.decode(z, func.one_hot(labels.to(z.device).long(), self.n_classes))

    @staticmethod
    def reparameterize(z_mu: torch.Tensor, z_var: torch.Tensor,
                       noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Sample z ~ N(z_mu, exp(z_var)) differentiably.

        The noise is drawn per sample of the batch
        (:func:`~pynet_cvae.distributed.batch_noise_like`), so that a run over several
        processes draws what the one-process run with the global batch draws; pass
        ``noise`` for rows that are not one per sample.
        """
        if noise is None:
            noise = batch_noise_like(z_mu)
        return z_mu + noise * torch.exp(z_var / 2)

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Reconstruct images through the latent space.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, input_dim)`` flattened images.
        labels : torch.Tensor, optional
            ``(batch,)`` class ids; a negative id (or no labels) marks an unlabelled
            image.

        Returns
        -------
        prediction : torch.Tensor
            ``(batch, input_dim)`` reconstructions in [0, 1].
        layer_outputs : dict
            See the class notes.
        """
        if x.dim() != 2 or x.shape[1] != self.input_dim:
            raise ValueError(
                f"ConditionalCVAE expects inputs of shape (batch, {self.input_dim}), got "
                f"{tuple(x.shape)}; flatten the images (e.g. input_transforms=[Flatten()])")
        labels = self._known_labels(x, labels)
        known = labels >= 0
        if self.training and self.classifier_average:
            self._update_average()
        features = self.encoder_trunk(x)
        if self.classifier_average and not self.training:
            logits = self._averaged_classify(x)
        else:
            logits = self.classifier_head(
                features if self.shared_trunk else self.classifier_trunk(x))
        elbo_logits = logits if self.elbo_trains_classifier else logits.detach()
        onehot = self._condition(elbo_logits, labels, known)
        z_mu, z_var = self.encoder_head(features, onehot)
        x_logits = self.decoder(self.reparameterize(z_mu, z_var), onehot)
        outputs = {"z_mu": z_mu, "z_var": z_var, "logits": logits, "y": onehot,
                   "labels": labels, "x_logits": x_logits}
        if not self.elbo_trains_classifier:
            outputs["elbo_logits"] = elbo_logits
        if self.training and self.unlabelled == "marginal" and not bool(known.all()):
            outputs.update(self._marginal_outputs(features, known))
        if self.training and self.consistency_samples:
            outputs.update(self._consistency_outputs(x.device))
        if self.training and self.pseudo_labels:
            outputs.update(self._pseudo_label_outputs(x, known))
        return torch.sigmoid(x_logits), outputs

    def _known_labels(self, x: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        if labels is None:
            return torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)
        labels = labels.reshape(-1).long()
        if labels.numel() != x.shape[0]:
            raise ValueError(f"expected one label per image ({x.shape[0]}), got "
                             f"{labels.numel()}")
        if labels.numel() and int(labels.max()) >= self.n_classes:
            raise ValueError(f"class ids must lie in [0, {self.n_classes}) (or be negative "
                             f"for a missing label), got {int(labels.max())}")
        return labels

    def _condition(self, logits: torch.Tensor, labels: torch.Tensor,
                   known: torch.Tensor) -> torch.Tensor:
        """The true one-hot of labelled images; the classifier's class for the others."""
        onehot = func.one_hot(labels.clamp(min=0), self.n_classes).to(logits.dtype)
        if bool(known.all()):
            return onehot
        if self.training:
            guessed = func.gumbel_softmax(logits, tau=self.temperature, hard=self.hard)
        else:
            guessed = func.one_hot(logits.argmax(dim=1), self.n_classes).to(logits.dtype)
        return torch.where(known[:, None], onehot, guessed)

    def _marginal_outputs(self, features: torch.Tensor, known: torch.Tensor
                          ) -> Dict[str, torch.Tensor]:
        """Every class for every unlabelled image: rows ``image * n_classes + class``."""
        rows = torch.nonzero(~known).reshape(-1)
        count = rows.numel()
        repeated = features[rows].repeat_interleave(self.n_classes, dim=0)
        classes = torch.eye(self.n_classes, dtype=features.dtype, device=features.device)
        classes = classes.repeat(count, 1)
        z_mu, z_var = self.encoder_head(repeated, classes)
        x_logits = self.decoder(self.reparameterize(z_mu, z_var, torch.randn_like(z_mu)),
                                classes)
        return {"marginal_rows": rows, "marginal_x_logits": x_logits,
                "marginal_z_mu": z_mu, "marginal_z_var": z_var}

    def _consistency_outputs(self, device: torch.device) -> Dict[str, torch.Tensor]:
        """Prior draws decoded with random classes, classified with frozen weights."""
        count = self.consistency_samples
        labels = torch.randint(self.n_classes, (count,), device=device)
        z = torch.randn(count, self.latent_dim, device=device)
        images = self.decode(z, func.one_hot(labels, self.n_classes))
        return {"generated_logits": self._frozen_classify(images),
                "generated_labels": labels}

    def _pseudo_label_outputs(self, x: torch.Tensor, known: torch.Tensor
                              ) -> Dict[str, torch.Tensor]:
        """The classifier on augmented views: weak views of the labelled images, and
        strong views of the unlabelled ones with the confident guesses on their weak
        views as targets."""
        outputs = {}
        if bool(known.any()):
            outputs["augmented_logits"] = self.classify(
                weak_view(x[known], self.image_shape, self.augment_flip))
        unlabelled = x[~known]
        if not len(unlabelled):
            return outputs
        with torch.no_grad():
            guesses = func.softmax(
                self.classify(weak_view(unlabelled, self.image_shape, self.augment_flip)), 1)
            confidence, labels = guesses.max(dim=1)
        outputs["pseudo_logits"] = self.classify(
            strong_view(unlabelled, self.image_shape, self.augment_flip))
        outputs["pseudo_labels"] = labels
        outputs["pseudo_mask"] = (confidence >= self.pseudo_label_threshold).to(x.dtype)
        return outputs

    def _classifier_modules(self) -> Dict[str, nn.Module]:
        """The classifier's parts: its trunk (the encoder's when shared) and its head."""
        trunk = self.encoder_trunk if self.shared_trunk else self.classifier_trunk
        return {"trunk": trunk, "head": self.classifier_head}

    def _classifier_parameters(self) -> Dict[str, torch.Tensor]:
        """The classifier's parameters by ``"<part>.<name>"``."""
        return {f"{part}.{name}": value for part, module in self._classifier_modules().items()
                for name, value in module.named_parameters()}

    @torch.no_grad()
    def _update_average(self) -> None:
        decay = self.classifier_average
        for name, parameter in self._classifier_parameters().items():
            getattr(self, _average_name(name)).mul_(decay).add_(parameter.detach(),
                                                                alpha=1 - decay)

    def _classify_with(self, weights: Dict[str, Dict[str, torch.Tensor]],
                       x: torch.Tensor) -> torch.Tensor:
        """The classifier's logits computed with other weights, by part and name."""
        modules = self._classifier_modules()
        features = functional_call(modules["trunk"], weights["trunk"], (x,))
        return functional_call(modules["head"], weights["head"], (features,))

    def _averaged_classify(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's logits with the averaged weights."""
        return self._classify_with({
            part: {name: getattr(self, _average_name(f"{part}.{name}"))
                   for name, _ in module.named_parameters()}
            for part, module in self._classifier_modules().items()}, x)

    def _classifier_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._classifier_modules()["trunk"](x)

    def _frozen_classify(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's logits with its weights detached: gradients reach ``x`` only."""
        return self._classify_with({part: _detached(module) for part, module
                                    in self._classifier_modules().items()}, x)


def _average_name(name: str) -> str:
    """The buffer holding the average of classifier parameter ``name``."""
    return "classifier_average_" + name.replace(".", "_")


def _detached(module: nn.Module) -> Dict[str, torch.Tensor]:
    return {name: parameter.detach() for name, parameter in module.named_parameters()}
