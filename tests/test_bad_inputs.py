"""Bad input everywhere: one table, each bad input with the clear error a user gets.

Each row calls the public API with one bad input (``call(tmp_path)``) and names the
error type and a regular expression its message must match: the bad value and what
was expected.
"""

import contextlib
import gzip
import io
import os
from typing import Any, Callable, NamedTuple

import numpy as np
import pandas as pd
import pytest
import torch

from pynet_cvae.checkpoint import (CheckpointError, CorruptCheckpointError,
                                   UnsafeCheckpointError, save_checkpoint)
from pynet_cvae.cli import main
from pynet_cvae.datasets import DataManager
from pynet_cvae.datasets.fetchers import IDX_NAMES, fetch_minst
from pynet_cvae.datasets.idx import IDXFormatError, write_idx
from pynet_cvae.history import History
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.numerics import NonFiniteLossError
from pynet_cvae.observable import Observable
from pynet_cvae.registry import Networks


class Case(NamedTuple):
    name: str
    call: Callable[[Any], Any]
    error: type
    message: str


# ---------------------------------------------------------------- helpers
def data(n=32, features=6):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")


def manager(**options):
    x, y = data()
    options = {"batch_size": 16, **options}
    return DataManager.from_numpy(train_inputs=x, train_labels=y, validation_inputs=x[:8],
                                  validation_labels=y[:8], test_inputs=x[:8],
                                  test_labels=y[:8], **options)


def interface(**options):
    options = {"model": torch.nn.Linear(6, 2), "loss_name": "CrossEntropyLoss",
               "progress": False, **options}
    return DeepLearningInterface(**options)


def train(tmp_path=None, nb_epochs=1, **options):
    def call(_):
        return interface(**options).training(manager(), nb_epochs=nb_epochs)
    return call


def train_with(**training_options):
    def call(tmp_path):
        return interface().training(manager(), **{"nb_epochs": 1, **training_options})
    return call


class Returns(torch.nn.Module):
    """A model whose forward returns ``output``."""

    def __init__(self, output):
        super().__init__()
        self.linear = torch.nn.Linear(6, 2)
        self.output = output

    def forward(self, x):
        return self.output(self.linear(x))


def files(tmp_path, rows=20, metadata_rows=None, columns=None):
    x, y = data(rows)
    inputs, metadata = str(tmp_path / "inputs.npy"), str(tmp_path / "metadata.tsv")
    np.save(inputs, x)
    table = pd.DataFrame(columns or {"label": y})
    table.iloc[: metadata_rows or rows].to_csv(metadata, sep="\t", index=False)
    return inputs, metadata


def damaged_inputs(tmp_path, damage):
    inputs, metadata = files(tmp_path)
    with open(inputs, "rb") as stream:
        data = stream.read()
    with open(inputs, "wb") as stream:
        stream.write(damage(data))
    return inputs, metadata


def file_manager(**options):
    def call(tmp_path):
        inputs, metadata = files(tmp_path)
        return DataManager(input_path=inputs, metadata_path=metadata, labels=["label"],
                           **options)
    return call


def saved_weights(tmp_path, model=None):
    path = str(tmp_path / "model_0_epoch_0.pth")
    save_checkpoint(path, model=(model or torch.nn.Linear(6, 2)).state_dict())
    return path


def truncated_checkpoint(tmp_path):
    path = str(tmp_path / "model_0_epoch_0.pth")
    save_checkpoint(path, model=torch.nn.Linear(6, 2).state_dict(), optimizer={}, fold=0,
                    epoch=0)
    with open(path, "r+b") as stream:
        stream.truncate(os.path.getsize(path) // 2)
    return path


class Opens:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def malicious_checkpoint(tmp_path):
    path = str(tmp_path / "evil.pth")
    torch.save({"model": Opens(str(tmp_path / "pwned"))}, path)
    return path


def idx_folder(tmp_path, damage):
    """The four MNIST IDX files (5 train, 3 test images), one damaged by ``damage``."""
    rng = np.random.default_rng(0)
    arrays = {IDX_NAMES[0]: rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              IDX_NAMES[1]: rng.integers(0, 10, 5, dtype=np.uint8),
              IDX_NAMES[2]: rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              IDX_NAMES[3]: rng.integers(0, 10, 3, dtype=np.uint8)}
    for name, array in arrays.items():
        write_idx(tmp_path / name, array)
    damage(tmp_path)
    return fetch_minst(tmp_path, mirrors=[])


def truncate_file(name, keep):
    def damage(directory):
        path = directory / name
        path.write_bytes(path.read_bytes()[:keep])
    return damage


def replace_file(name, content):
    def damage(directory):
        (directory / name).write_bytes(content)
    return damage


def truncated_gzip(directory):
    path = directory / IDX_NAMES[0]
    packed = gzip.compress(path.read_bytes())
    path.unlink()
    (directory / f"{IDX_NAMES[0]}.gz").write_bytes(packed[: len(packed) // 2])


def cli(*argv):
    """Run ``pynet-cvae argv``; raise SystemExit-free errors as ``CLIError``."""
    def call(tmp_path):
        argv_ = [str(tmp_path) if part == "{tmp}" else part for part in argv]
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            try:
                status = main(argv_)
            except SystemExit as exit_:
                status = exit_.code
        raise CLIError(f"status {status}: {stderr.getvalue().strip()}")
    return call


class CLIError(Exception):
    """What the command line printed, with its exit status."""


def observable_call(action):
    def call(tmp_path):
        emitter = Observable(["after_epoch"])
        return action(emitter)
    return call


# ---------------------------------------------------------------- the table
CASES = [
    # the interface's arguments
    Case("unknown optimizer", lambda tmp: interface(optimizer_name="Adamm"), ValueError,
         r"optimizer_name 'Adamm' is not a torch.optim optimizer; expected one of \[.*'Adam'"),
    Case("optimizer option it lacks", lambda tmp: interface(optimizer_name="SGD", betas=1),
         TypeError, r"cannot build optimizer SGD with \{'betas': 1\}"),
    Case("unknown loss name", lambda tmp: interface(loss_name="CrossEntropy"), ValueError,
         r"unknown loss 'CrossEntropy'"),
    Case("unknown metric name", lambda tmp: interface(metrics=["f1"]), ValueError,
         r"unknown metric 'f1'"),
    Case("metric not callable", lambda tmp: interface(metrics=[42]), TypeError,
         r"a metric must be callable or a registered name, got 42"),
    Case("two metrics of one name", lambda tmp: interface(metrics=[len, len]), ValueError,
         r"two metrics are named 'len'"),
    Case("loss not callable", lambda tmp: interface(loss=3), TypeError,
         r"loss must be callable, got 3"),
    Case("unknown network name", lambda tmp: interface(model="Transformerz"), ValueError,
         r"'Transformerz'"),
    Case("model of another type", lambda tmp: interface(model=np.zeros(3)), TypeError,
         r"model must be a torch.nn.Module or a network name, got array"),
    Case("model_kwargs for a ready model",
         lambda tmp: interface(model_kwargs={"in_features": 3}), ValueError,
         r"model_kwargs is only used when model is given by name"),
    Case("unknown device", lambda tmp: interface(device="tpu"), ValueError,
         r"device 'tpu' unknown; expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"),
    Case("resume without a checkpoint", lambda tmp: interface(resume=True), ValueError,
         r"resume=True needs pretrained=<checkpoint path>"),
    Case("bad seed", lambda tmp: interface(seed=-3), ValueError,
         r"seed must be an integer in \[0, 4294967295\], got -3"),
    # pretrained and resume
    Case("pretrained file missing", lambda tmp: interface(pretrained=str(tmp / "no.pth")),
         FileNotFoundError, r"no checkpoint file at '.*no.pth'"),
    Case("pretrained weights of another model",
         lambda tmp: interface(pretrained=saved_weights(tmp, torch.nn.Linear(3, 2))),
         ValueError, r"the weights in '.*model_0_epoch_0.pth' do not fit the model Linear: "
                     r".*size mismatch for weight"),
    Case("resume from weights only",
         lambda tmp: interface(pretrained=saved_weights(tmp), resume=True), ValueError,
         r"cannot resume from '.*': it holds no \['optimizer', 'fold', 'epoch'\] \(only "
         r"weights\)"),
    Case("truncated checkpoint",
         lambda tmp: interface(pretrained=truncated_checkpoint(tmp)),
         CorruptCheckpointError, r"checkpoint '.*model_0_epoch_0.pth' is truncated or "
                                 r"corrupted: its SHA-256 is"),
    Case("malicious checkpoint",
         lambda tmp: interface(pretrained=malicious_checkpoint(tmp)), UnsafeCheckpointError,
         r"refusing to load '.*evil.pth': it refers to io.open, which is not a tensor nor "
         r"plain data .*nothing in it was run"),
    Case("checkpoint from the future",
         lambda tmp: (torch.save({"format_version": 99, "model": {}}, tmp / "f.pth"),
                      interface(pretrained=str(tmp / "f.pth"))), CheckpointError,
         r"format version 99; this pynet_cvae reads versions \[1, 2, 3\]"),
    # what models, losses and metrics return
    Case("model returns a list of three", train(model=Returns(lambda y: [y, y, y])),
         TypeError, r"the model must return a tensor or \(tensor, dict_of_layer_outputs\), "
         r"got a list of \(Tensor, Tensor, Tensor\)"),
    Case("model returns (tensor, list)", train(model=Returns(lambda y: (y, [y]))),
         TypeError, r"got a tuple of \(Tensor, list\)"),
    Case("model returns a dict", train(model=Returns(lambda y: {"y": y})), TypeError,
         r"got a dict"),
    Case("loss returns a vector",
         train(loss=torch.nn.CrossEntropyLoss(reduction="none")), ValueError,
         r"the loss must return a scalar, got a tensor of shape \(16,\); reduce it"),
    Case("loss returns a float", train(loss=lambda prediction, labels: 1.0), TypeError,
         r"the loss must return a tensor, got a float"),
    Case("loss returns a 3-tuple",
         train(loss=lambda p, labels: (p.sum(), {}, {})), TypeError,
         r"a loss must return a value or \(value, dict_of_extra_values\), got a tuple of "
         r"\(Tensor, dict, dict\)"),
    Case("loss extra value is a vector",
         train(loss=lambda p, labels: (p.sum(), {"norm": p.norm(dim=1)})), ValueError,
         r"the loss's extra value 'norm' must return a scalar, got a tensor of shape "
         r"\(16,\)"),
    Case("metric returns a vector", train(metrics=[lambda p, labels: p]), ValueError,
         r"metric '<lambda>' must return a scalar, got a tensor of shape \(16, 2\)"),
    Case("metric returns a string", train(metrics=[lambda p, labels: "good"]), TypeError,
         r"metric '<lambda>' must return a number, got a str"),
    Case("non-finite loss", train(loss=lambda p, labels: p.sum() * float("nan")),
         NonFiniteLossError, r"non-finite loss \(nan\) at fold 0, epoch 0, batch 0"),
    # wrong shapes between the model and the data
    Case("model expects other features", train(model=torch.nn.Linear(5, 2)), RuntimeError,
         r"the model Linear failed on inputs of shape \(16, 6\): mat1 and mat2 shapes "
         r"cannot be multiplied"),
    Case("too few outputs for the classes", train(model=torch.nn.Linear(6, 1)), IndexError,
         r"the loss CrossEntropyLoss failed on a prediction of shape \(16, 1\) float32 and "
         r"targets \[\(16,\) int64\]: Target 1 is out of bounds"),
    Case("binary loss on class ids",
         train(model=torch.nn.Linear(6, 3), loss_name="BCEWithLogitsLoss"), ValueError,
         r"the loss BCEWithLogitsLoss failed on a prediction of shape \(16, 3\) float32 "
         r"and targets \[\(16,\) int64\]: Target size .* must be the same as input size"),
    # training and testing arguments
    Case("negative epochs", train_with(nb_epochs=-1), ValueError,
         r"nb_epochs must be an integer >= 0, got -1"),
    Case("zero checkpoint period", train_with(save_after_epochs=0), ValueError,
         r"save_after_epochs must be an integer >= 1, got 0"),
    Case("fold out of range", train_with(fold_index=1), ValueError,
         r"fold_index 1 out of range: the manager has 1 fold\(s\), expected 0 to 0"),
    Case("keep_last zero", train_with(keep_last=0), ValueError,
         r"keep_last must be an integer >= 1, got 0"),
    Case("unknown non-finite policy", train_with(on_nonfinite="warn"), ValueError,
         r"on_nonfinite 'warn' unknown; expected one of \['raise', 'skip'\]"),
    Case("negative clipping", train_with(clip_grad_norm=-1.0), ValueError,
         r"clip_grad_norm must be a finite number > 0 or None, got -1.0"),
    Case("resume without checkpointdir", train_with(resume=True), ValueError,
         r"resume=True needs checkpointdir"),
    Case("unknown logit function",
         lambda tmp: interface().testing(manager(), with_logit=True, logit_function="relu"),
         ValueError, r"logit_function 'relu' unknown; expected 'softmax' or 'sigmoid'"),
    Case("missing layer outputs",
         lambda tmp: interface().testing(manager(), concat_layer_outputs=["mu"]), ValueError,
         r"concat_layer_outputs=\['mu'\] but the model returns no layer_outputs"),
    # signals and names
    Case("unknown signal to observe",
         observable_call(lambda emitter: emitter.add_observer("after_epok", print)),
         ValueError, r"unknown signal 'after_epok'; allowed signals: \['after_epoch'\]"),
    Case("observer not attached",
         observable_call(lambda emitter: emitter.remove_observer("after_epoch", print)),
         ValueError, r"is not an observer of signal 'after_epoch'"),
    Case("observer not callable",
         observable_call(lambda emitter: emitter.add_observer("after_epoch", "print")),
         TypeError, r"observer for 'after_epoch' must be callable, got 'print'"),
    Case("unknown registered network", lambda tmp: Networks.get("Resnet"),
         (KeyError, ValueError), r"'Resnet'"),
    Case("unknown history metric", lambda tmp: History(name="train")["acc"], KeyError,
         r"no metric 'acc' in the train history; logged: \[\]"),
    Case("history value not a number",
         lambda tmp: History(name="train").log(0, loss="low"), TypeError,
         r"history value 'loss' must be a number, got str"),
    Case("history file not JSON",
         lambda tmp: ((tmp / "h.json").write_text("{"), History.load(str(tmp / "h.json"))),
         ValueError, r"history file '.*h.json' is not valid JSON"),
    # the data manager
    Case("test_size above 1", file_manager(test_size=1.5), ValueError,
         r"test_size 1.5 out of range: expected a number in \[0, 1\]"),
    Case("zero folds", file_manager(number_of_folds=0), ValueError,
         r"number_of_folds 0 is invalid: expected an int >= 1"),
    Case("unknown sampler", file_manager(sampler="shuffle"), ValueError,
         r"sampler 'shuffle' is invalid: expected 'random', 'weighted_random', None"),
    Case("unknown label column", file_manager(stratify_label="digit"), ValueError,
         r"stratify_label column 'digit' not in metadata columns \['label'\]"),
    Case("metadata rows missing",
         lambda tmp: DataManager(*files(tmp, rows=20, metadata_rows=15)), ValueError,
         r"has 15 rows but input_path '.*inputs.npy' has 20 samples"),
    Case("input file missing",
         lambda tmp: DataManager(str(tmp / "none.npy"), str(tmp / "none.tsv")),
         FileNotFoundError, r"input_path '.*none.npy' does not exist"),
    Case("unknown dataloader argument", file_manager(shuffle_buffer=3), ValueError,
         r"dataloader argument 'shuffle_buffer' unknown"),
    Case("truncated input array",
         lambda tmp: DataManager(*damaged_inputs(tmp, lambda data: data[:150])), ValueError,
         r"input_path '.*inputs.npy' is not a readable .npy array"),
    Case("input array that is not .npy",
         lambda tmp: DataManager(*damaged_inputs(tmp, lambda data: b"garbage")), ValueError,
         r"input_path '.*inputs.npy' is not a readable .npy array"),
    # fetcher files corrupt or truncated
    Case("truncated IDX images",
         lambda tmp: idx_folder(tmp, truncate_file(IDX_NAMES[0], 1000)), IDXFormatError,
         r"train-images-idx3-ubyte"),
    Case("IDX file with a bad magic number",
         lambda tmp: idx_folder(tmp, replace_file(IDX_NAMES[1], b"\x12\x34\x56\x78" * 4)),
         IDXFormatError, r"train-labels-idx1-ubyte"),
    Case("IDX labels and images disagree",
         lambda tmp: idx_folder(tmp, lambda d: write_idx(d / IDX_NAMES[3],
                                                         np.zeros(2, np.uint8))),
         IDXFormatError, r"holds 3 images but .*t10k-labels-idx1-ubyte' holds 2 labels"),
    Case("truncated gzip IDX file", lambda tmp: idx_folder(tmp, truncated_gzip),
         IDXFormatError, r"train-images-idx3-ubyte.gz"),
    # the command line
    Case("CLI: zero epochs", cli("train", "--output", "{tmp}", "--epochs", "0"),
         CLIError, r"status 2: pynet-cvae train: error: --epochs: expected an integer >= 1, "
                   r"got 0"),
    Case("CLI: unknown data set", cli("train", "--output", "{tmp}", "--dataset", "cifar"),
         CLIError, r"status 2: .*--dataset 'cifar' is neither one of"),
    Case("CLI: learning rate not a number",
         cli("train", "--output", "{tmp}", "--learning-rate", "fast"), CLIError,
         r"status 2: .*--learning_rate: expected a finite number, got fast"),
    Case("CLI: sample size above 1", cli("train", "--output", "{tmp}", "--sample-size", "2"),
         CLIError, r"status 2: .*--sample_size: expected a fraction in \(0, 1\], got 2"),
    Case("CLI: misspelt option", cli("train", "--output", "{tmp}", "--epochz", "3"),
         CLIError, r"status 2: .*unrecognized arguments: --epochz 3"),
    Case("CLI: a model field of another network",
         cli("train", "--output", "{tmp}", "--model.prior_hidden_dim", "3"),
         CLIError, r"status 2: .*unrecognized arguments: --model.prior_hidden_dim 3"),
    Case("CLI: unknown command", cli("trian"), CLIError,
         r"status 2: .*invalid choice: 'trian'"),
    Case("CLI: mnist without a folder",
         cli("train", "--dataset", "mnist", "--output", "{tmp}"), CLIError,
         r"status 1: pynet-cvae: error: --dataset mnist needs --datasetdir DIR"),
    Case("CLI: sample a missing checkpoint",
         cli("sample", "--checkpoint", "{tmp}/none.pth", "--out", "{tmp}/grid.png"),
         CLIError, r"status 1: pynet-cvae: error: no checkpoint file or directory at "
                   r"'.*none.pth'"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_bad_input_gets_a_clear_error(case, tmp_path):
    with pytest.raises(case.error, match="(?s)" + case.message):
        case.call(tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_the_table_covers_at_least_thirty_bad_inputs():
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)
