"""Mixed precision (bf16 / fp16 autocast, gradient scaler) and torch.compile."""

import numpy as np
import pytest
import torch

from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.plugins.cvae import CVAE, ClassificationLoss, DecodeLoss, VAELoss
from pynet_cvae.precision import MixedPrecision, check_precision

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture
def images():
    """A few 'images' in [0, 1] with classes, flattened, as the CVAE tutorial has them."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(96, 36)).astype("float32")
    y = (x[:, :18].mean(axis=1) > x[:, 18:].mean(axis=1)).astype("int64")
    return DataManager.from_numpy(train_inputs=x, train_labels=y, validation_inputs=x[:32],
                                  validation_labels=y[:32], batch_size=16, add_input=True)


class DtypeRecorder:
    """Records the dtype of what the model returns and of what the loss receives."""

    def __init__(self, loss):
        self.loss, self.model_dtypes, self.loss_dtypes = loss, set(), set()

    @property
    def layer_outputs(self):
        return self.loss.layer_outputs

    @layer_outputs.setter
    def layer_outputs(self, outputs):
        self.loss.layer_outputs = outputs
        self.loss_dtypes.update(value.dtype for value in outputs.values())

    def hook(self, module, inputs, output):
        self.model_dtypes.add(output[0].dtype)

    def __call__(self, prediction, *targets):
        self.loss_dtypes.add(prediction.dtype)
        return self.loss(prediction, *targets)


def make_cvae(precision, device="cpu", **options):
    torch.manual_seed(0)
    recorder = DtypeRecorder(DecodeLoss(return_terms=True))
    model = CVAE(input_dim=36, hidden_dim=16, latent_dim=4, n_classes=2)
    model.register_forward_hook(recorder.hook)
    interface = DeepLearningInterface(model=model, loss=recorder, device=device,
                                      metrics=[ClassificationLoss(), VAELoss()],
                                      precision=precision, progress=False, **options)
    return interface, recorder


def test_bf16_runs_the_forward_in_bfloat16_and_the_loss_in_float32(images):
    reference, _ = make_cvae("fp32")
    expected, _ = reference.training(images, nb_epochs=2)
    interface, recorder = make_cvae("bf16")
    history, validation = interface.training(images, nb_epochs=2)
    assert recorder.model_dtypes == {torch.bfloat16}
    assert recorder.loss_dtypes == {torch.float32}  # the CVAE's BCE needs full precision
    assert all(parameter.dtype == torch.float32 for parameter in interface.model.parameters())
    assert interface.precision.scaler is None
    # bfloat16 has ~3 significant digits: the same run, roughly
    assert history["loss"][1] == pytest.approx(expected["loss"][1], rel=0.02)
    assert np.isfinite(validation["VAELoss"][1]).all()


def test_fp16_scales_the_loss_and_saves_the_scaler_with_the_checkpoint(images, tmp_path):
    interface, recorder = make_cvae("fp16")
    history, _ = interface.training(images, nb_epochs=2, checkpointdir=str(tmp_path),
                                    clip_grad_norm=10.0)
    assert recorder.model_dtypes == {torch.float16}
    assert np.isfinite(history["loss"][1]).all()
    checkpoint = torch.load(tmp_path / "model_0_epoch_1.pth", weights_only=True)
    assert checkpoint["grad_scaler"] == interface.precision.state_dict()
    assert checkpoint["grad_scaler"]["_growth_tracker"] > 0  # steps since an overflow

    resumed, _ = make_cvae("fp16")
    assert resumed.precision.state_dict()["_growth_tracker"] == 0
    resumed.load_pretrained(str(tmp_path / "model_0_epoch_1.pth"), resume=True)
    assert resumed.precision.state_dict() == checkpoint["grad_scaler"]


@pytest.mark.parametrize("name, canonical", [("bfloat16", "bf16"), ("float16", "fp16"),
                                             ("32", "fp32"), ("fp32", "fp32")])
def test_precision_aliases(name, canonical):
    assert check_precision(name) == canonical


@pytest.mark.parametrize("value", ["fp8", "", None, 16])
def test_an_unknown_precision_is_a_clear_error(value):
    with pytest.raises(ValueError, match=f"precision {value!r} unknown; expected one of "
                                         "\\['fp32', 'bf16', 'fp16'\\]"):
        DeepLearningInterface(model=torch.nn.Linear(2, 2), precision=value)


def test_fp32_changes_nothing():
    precision = MixedPrecision("fp32", torch.device("cpu"))
    tensor = torch.ones(2, dtype=torch.float16)
    assert not precision.enabled and precision.to_full_precision(tensor) is tensor
    assert precision.state_dict() is None


def reconstruction_error(prediction, images, labels):
    return torch.nn.functional.mse_loss(prediction, images)


def test_compile_keeps_the_model_and_its_checkpoint_keys(images, tmp_path):
    def autoencoder(**options):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(36, 8), torch.nn.ReLU(),
                                    torch.nn.Linear(8, 36), torch.nn.Sigmoid())
        return DeepLearningInterface(model=model, loss=reconstruction_error,
                                     progress=False, **options)

    # the "eager" backend runs the same graph capture without generating code (quick)
    interface = autoencoder(compile={"backend": "eager"})
    history, _ = interface.training(images, nb_epochs=1, checkpointdir=str(tmp_path))
    expected, _ = autoencoder().training(images, nb_epochs=1)
    assert history["loss"][1] == pytest.approx(expected["loss"][1], rel=1e-5)
    assert isinstance(interface.model, torch.nn.Sequential)
    checkpoint = torch.load(tmp_path / "model_0_epoch_0.pth", weights_only=True)
    assert sorted(checkpoint["model"]) == ["0.bias", "0.weight", "2.bias", "2.weight"]


def test_a_bad_compile_option_is_a_clear_error():
    with pytest.raises(ValueError, match="compile must be True, False or a dict"):
        DeepLearningInterface(model=torch.nn.Linear(2, 2), compile="yes")


@CUDA
@pytest.mark.parametrize("precision, dtype", [("fp16", torch.float16),
                                              ("bf16", torch.bfloat16)])
def test_mixed_precision_on_cuda(images, precision, dtype):
    interface, recorder = make_cvae(precision, device="cuda")
    history, _ = interface.training(images, nb_epochs=2)
    assert recorder.model_dtypes == {dtype} and recorder.loss_dtypes == {torch.float32}
    assert np.isfinite(history["loss"][1]).all()
    assert (interface.precision.scaler is not None) == (precision == "fp16")
