import os

import numpy as np
import pytest
import torch

from pynet_cvae.checkpoint import load_checkpoint
from pynet_cvae.datasets import DataManager
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.registry import Losses, Metrics


def make_classification(n=96, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_features)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")
    return x, y


@pytest.fixture
def manager():
    x, y = make_classification()
    return DataManager.from_numpy(train_inputs=x, train_labels=y, validation_inputs=x[:32],
                                  validation_labels=y[:32], test_inputs=x[:40],
                                  test_labels=y[:40], batch_size=16)


def accuracy(prediction, labels):
    return (prediction.argmax(dim=1) == labels).float().mean()


def make_interface(**kwargs):
    torch.manual_seed(0)
    options = dict(model=torch.nn.Linear(6, 2), optimizer_name="SGD", learning_rate=0.1,
                   loss_name="CrossEntropyLoss", metrics=[accuracy], progress=False)
    options.update(kwargs)
    return DeepLearningInterface(**options)


# ---------------------------------------------------------------- construction
def test_optimizer_by_name_with_extra_arguments():
    interface = make_interface(momentum=0.9, weight_decay=1e-4)
    assert isinstance(interface.optimizer, torch.optim.SGD)
    group = interface.optimizer.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.1, 0.9, 1e-4)


def test_unknown_optimizer_and_loss_names_are_clear_errors():
    with pytest.raises(ValueError, match="optimizer_name 'Adamm'.*'Adam'"):
        make_interface(optimizer_name="Adamm")
    with pytest.raises(ValueError, match="unknown loss 'CrossEntropy'"):
        make_interface(loss_name="CrossEntropy")
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        make_interface(metrics=["f1"])


def test_a_ready_optimizer_and_a_loss_callable():
    model = torch.nn.Linear(6, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss = torch.nn.CrossEntropyLoss()
    interface = make_interface(model=model, optimizer=optimizer, loss=loss)
    assert interface.optimizer is optimizer and interface.loss is loss
    assert interface.model is model and interface.device == torch.device("cpu")


def test_loss_and_metrics_resolve_through_the_registries_first():
    interface = make_interface(loss_name="VAELoss", metrics=["ClassificationLoss"])
    assert type(interface.loss) is Losses.get("VAELoss")
    assert isinstance(interface.metrics["ClassificationLoss"], Metrics.get("ClassificationLoss"))
    assert type(make_interface(loss_name="NLLLoss").loss) is torch.nn.NLLLoss


def test_metrics_are_named_by_function_or_class_name():
    class Recall:
        def __call__(self, prediction, labels):
            return torch.tensor(1.0)

    interface = make_interface(metrics=[accuracy, Recall()])
    assert list(interface.metrics) == ["accuracy", "Recall"]
    with pytest.raises(ValueError, match="two metrics are named 'accuracy'"):
        make_interface(metrics=[accuracy, accuracy])


def test_devices():
    assert make_interface(device="cpu").device == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            make_interface(use_cuda=True)
        assert make_interface(device="auto").device.type in ("cpu", "mps")
    with pytest.raises(ValueError, match="device 'tpu' unknown"):
        make_interface(device="tpu")


def test_users_may_set_their_own_attributes():
    interface = make_interface()
    interface.board = "my board"
    assert interface.board == "my board"


# ---------------------------------------------------------------- the batch protocol
class RecordingLoss:
    """A loss that records its calls and returns (value, extras)."""

    def __init__(self):
        self.layer_outputs = None
        self.calls = []

    def __call__(self, prediction, *targets):
        self.calls.append((self.layer_outputs, [target.dtype for target in targets]))
        loss = torch.nn.functional.cross_entropy(prediction, targets[-1])
        return loss, {"half_loss": loss.detach() / 2}


class TwoHeads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 2)

    def forward(self, x):
        prediction = self.linear(x)
        return prediction, {"norm": prediction.norm(dim=1)}


class LayerOutputsMetric:
    def __init__(self):
        self.layer_outputs = None

    def __call__(self, prediction, *targets):
        return self.layer_outputs["norm"].mean()


def test_layer_outputs_reach_the_loss_and_the_metrics(manager):
    loss = RecordingLoss()
    interface = make_interface(model=TwoHeads(), loss=loss, metrics=[LayerOutputsMetric()])
    train, validation = interface.training(manager, nb_epochs=1, with_validation=True)
    layer_outputs, target_types = loss.calls[0]
    assert set(layer_outputs) == {"norm"}
    assert target_types == [torch.int64]
    assert "LayerOutputsMetric" in train.metrics and train["LayerOutputsMetric"][1][0] > 0
    # the loss's extra values are averaged and reported like metrics
    assert train["half_loss"][1][0] == pytest.approx(train["loss"][1][0] / 2, rel=1e-5)
    assert validation["half_loss"][1][0] == pytest.approx(validation["loss"][1][0] / 2,
                                                          rel=1e-5)


def test_targets_are_outputs_then_labels_and_add_labels_passes_labels():
    x, y = make_classification()
    manager = DataManager.from_numpy(train_inputs=x, train_outputs=x[:, :2],
                                     train_labels=y, batch_size=32)
    seen = []

    class WithLabels(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(6, 2)

        def forward(self, inputs, labels):
            seen.append(labels)
            return self.linear(inputs)

    def loss(prediction, outputs, labels):
        assert outputs.shape == prediction.shape and labels.dtype == torch.int64
        return torch.nn.functional.mse_loss(prediction, outputs)

    interface = make_interface(model=WithLabels(), loss=loss, metrics=[], add_labels=True)
    interface.training(manager, nb_epochs=1, with_validation=False)
    assert seen and seen[0].dtype == torch.int64


@pytest.mark.parametrize("bad_output, message", [
    ([torch.zeros(1)] * 3, "must return a tensor or \\(tensor, dict_of_layer_outputs\\), "
     "got a list of \\(Tensor, Tensor, Tensor\\)"),
    ((torch.zeros(1), [1]), "got a tuple of \\(Tensor, list\\)"),
])
def test_a_model_returning_something_else_is_a_clear_error(manager, bad_output, message):
    class Bad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(6, 2)

        def forward(self, x):
            return bad_output

    with pytest.raises(TypeError, match=message):
        make_interface(model=Bad()).training(manager, nb_epochs=1)


def test_a_non_scalar_loss_is_a_clear_error(manager):
    loss = torch.nn.CrossEntropyLoss(reduction="none")
    with pytest.raises(ValueError, match="loss must return a scalar.*shape \\(16,\\)"):
        make_interface(loss=loss).training(manager, nb_epochs=1)


def test_regularizer_returns_are_added_to_the_loss(manager):
    plain = make_interface(metrics=[])
    plain.training(manager, nb_epochs=5, with_validation=False)
    interface = make_interface(metrics=[])
    seen = []

    def l2_penalty(signal):
        seen.append(signal.layer_outputs)
        return 2.0 * sum((parameter ** 2).sum() for parameter in signal.object.model.parameters())

    interface.add_observer("regularizer", l2_penalty)
    interface.training(manager, nb_epochs=5, with_validation=False)
    assert seen and seen[0] is None
    # the penalty shrank the weights
    assert interface.model.weight.abs().max() < 0.25 * plain.model.weight.abs().max()


# ---------------------------------------------------------------- training
def test_training_learns_and_reports_every_after_epoch_value(manager):
    interface = make_interface()
    signals = []
    interface.add_observer("after_epoch", signals.append)
    scheduler = torch.optim.lr_scheduler.StepLR(interface.optimizer, step_size=1, gamma=0.5)
    train, validation = interface.training(manager, nb_epochs=3, scheduler=scheduler,
                                           with_validation=True)
    assert [signal.epoch for signal in signals] == [0, 1, 2]
    last = signals[-1]
    assert set(last.keys) == {"epoch", "fold", "loss", "accuracy", "val_loss", "val_accuracy",
                              "val_pred", "scheduler"}
    assert last.scheduler is scheduler
    # val_pred: the first validation batch's predictions (memory bounded by the batch)
    assert isinstance(last.val_pred, np.ndarray) and last.val_pred.shape == (16, 2)
    assert train.steps == [(0, 0), (0, 1), (0, 2)]
    assert validation["accuracy"][1][-1] > 0.8
    assert interface.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 3)


@pytest.mark.parametrize("kept, rows", [("all", 32), (20, 20), (0, 0), ("batch", 16)])
def test_val_pred_keeps_what_is_asked(manager, kept, rows):
    def first_val_pred(kept):
        interface = make_interface(validation_predictions=kept)
        predictions = []
        interface.add_observer("after_epoch",
                               lambda signal: predictions.append(signal.val_pred))
        interface.training(manager, nb_epochs=1)
        return predictions[0]

    everything = first_val_pred("all")
    assert np.array_equal(first_val_pred(kept).reshape(-1, 2), everything[:rows])
    with pytest.raises(ValueError, match="validation_predictions must be 'batch', 'all' or "
                                         "an integer >= 0, got 'some'"):
        make_interface(validation_predictions="some")


def test_reduce_lr_on_plateau_steps_on_the_validation_loss(manager):
    interface = make_interface(learning_rate=1e-7)  # hardly any progress: a plateau
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        interface.optimizer, patience=0, factor=0.5, threshold=1e-3)
    train, validation = interface.training(manager, nb_epochs=3, scheduler=scheduler)
    assert interface.optimizer.param_groups[0]["lr"] < 1e-7
    assert scheduler.best == validation["loss"][1][0]  # no epoch improved on the first
    assert scheduler.best not in train["loss"][1]


def test_every_fold_restarts_from_the_initial_weights():
    x, y = make_classification(n=90)
    path_inputs, path_meta = _write_files(x, y)
    manager = DataManager(input_path=path_inputs, metadata_path=path_meta, labels=["label"],
                          number_of_folds=3, batch_size=15, test_size=0)
    interface = make_interface()
    initial = interface.model.weight.detach().clone()
    starts = []
    interface.add_observer(
        "before_fold", lambda signal: starts.append(signal.object.model.weight.detach().clone()))
    train, validation = interface.training(manager, nb_epochs=2)
    assert len(starts) == 3 and all(torch.equal(start, initial) for start in starts)
    assert [step[0] for step in train.steps] == [0, 0, 1, 1, 2, 2]
    assert make_interface().training(manager, nb_epochs=1, fold_index=2)[0].steps == [(2, 0)]
    with pytest.raises(ValueError, match="fold_index 3 out of range.*3 fold"):
        make_interface().training(manager, nb_epochs=1, fold_index=3)


def _write_files(x, y):
    import tempfile

    import pandas as pd

    directory = tempfile.mkdtemp()
    inputs = os.path.join(directory, "inputs.npy")
    metadata = os.path.join(directory, "metadata.tsv")
    np.save(inputs, x)
    pd.DataFrame({"label": y}).to_csv(metadata, sep="\t", index=False)
    return inputs, metadata


def test_early_stopping_through_stop_training(manager):
    interface = make_interface()

    def stop_after_second(signal):
        if signal.epoch == 1:
            signal.object.stop_training = True

    interface.add_observer("after_epoch", stop_after_second)
    train, _ = interface.training(manager, nb_epochs=10)
    assert train.steps == [(0, 0), (0, 1)]


def test_checkpoints_every_save_after_epochs_and_at_the_end(manager, tmp_path):
    interface = make_interface()
    interface.training(manager, nb_epochs=5, checkpointdir=str(tmp_path), save_after_epochs=2)
    names = sorted(os.listdir(tmp_path))
    assert [name for name in names if name.endswith(".pth") and name.startswith("model_")] \
        == ["model_0_epoch_1.pth", "model_0_epoch_3.pth", "model_0_epoch_4.pth"]
    # each checkpoint has its SHA-256 beside it, in sha256sum format
    assert "model_0_epoch_4.pth.sha256" in names
    assert {"train.json", "validation.json", "initial_state.pth"} <= set(names)
    checkpoint = load_checkpoint(str(tmp_path / "model_0_epoch_4.pth"))
    assert checkpoint["epoch"] == 4 and checkpoint["fold"] == 0
    assert torch.equal(checkpoint["model"]["weight"], interface.model.weight.detach())
    assert set(checkpoint["optimizer"]) == {"state", "param_groups"}


def test_pretrained_loads_the_weights(manager, tmp_path):
    trained = make_interface()
    trained.training(manager, nb_epochs=2, checkpointdir=str(tmp_path))
    loaded = make_interface(pretrained=str(tmp_path / "model_0_epoch_1.pth"))
    assert torch.equal(loaded.model.weight, trained.model.weight)
    with pytest.raises(ValueError, match="do not fit the model"):
        make_interface(model=torch.nn.Linear(3, 2),
                       pretrained=str(tmp_path / "model_0_epoch_1.pth"))


def test_resume_continues_where_training_stopped(manager, tmp_path):
    scheduler_of = lambda interface: torch.optim.lr_scheduler.StepLR(  # noqa: E731
        interface.optimizer, step_size=1, gamma=0.9)
    straight = make_interface(optimizer_name="Adam", learning_rate=0.01)
    full_train, full_validation = straight.training(
        manager, nb_epochs=4, scheduler=scheduler_of(straight))

    first = make_interface(optimizer_name="Adam", learning_rate=0.01)
    first.training(manager, nb_epochs=2, checkpointdir=str(tmp_path),
                   scheduler=scheduler_of(first))
    resumed = make_interface(optimizer_name="Adam", learning_rate=0.01,
                             pretrained=str(tmp_path / "model_0_epoch_1.pth"), resume=True)
    train, validation = resumed.training(manager, nb_epochs=4,
                                         scheduler=scheduler_of(resumed))
    assert train.steps == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert train["loss"][1] == pytest.approx(full_train["loss"][1], rel=1e-6)
    assert torch.allclose(resumed.model.weight, straight.model.weight, atol=1e-6)
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(
        straight.optimizer.param_groups[0]["lr"])


def test_resume_needs_a_full_checkpoint(tmp_path):
    weights = tmp_path / "weights.pth"
    torch.save(torch.nn.Linear(6, 2).state_dict(), weights)
    with pytest.raises(ValueError, match="cannot resume from .*only weights"):
        make_interface(pretrained=str(weights), resume=True)
    with pytest.raises(ValueError, match="resume=True needs pretrained"):
        make_interface(resume=True)


# ---------------------------------------------------------------- testing
def test_testing_returns_predictions_inputs_targets_loss_and_metrics(manager):
    interface = make_interface()
    interface.training(manager, nb_epochs=3, with_validation=False)
    y_pred, X, y_true, loss, values = interface.testing(manager)
    assert y_pred.shape == (40, 2) and X.shape == (40, 6) and y_true.shape == (40,)
    assert y_true.dtype == np.int64 and loss > 0 and set(values) == {"accuracy"}
    probabilities = interface.testing(manager, with_logit=True)[0]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    classes = interface.testing(manager, predict=True)[0]
    assert classes.shape == (40,)
    assert (classes == y_true).mean() == pytest.approx(values["accuracy"])


def test_testing_concatenates_layer_outputs(manager):
    interface = make_interface(model=TwoHeads(), loss=RecordingLoss(), metrics=[])
    y_pred = interface.testing(manager, concat_layer_outputs=["norm"])[0]
    assert y_pred.shape == (40, 3)
    with pytest.raises(ValueError, match="\\['missing'\\] not in the model's layer_outputs"):
        interface.testing(manager, concat_layer_outputs=["missing"])


def test_testing_without_a_test_set_is_a_clear_error():
    x, y = make_classification()
    manager = DataManager.from_numpy(train_inputs=x, train_labels=y, batch_size=8)
    with pytest.raises(ValueError, match="no test set"):
        make_interface().testing(manager)


def test_progress_bar_is_quiet_when_output_is_not_a_terminal(manager, capsys):
    make_interface(progress=None).training(manager, nb_epochs=1)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
