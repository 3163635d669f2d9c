"""What users read about an epoch: 1-based and named, within 100 columns."""

import torch

from pynet_cvae.history import History
from pynet_cvae.interfaces import DeepLearningInterface
from pynet_cvae.reporting import LINE_WIDTH, epoch_label, epoch_lines

VALUES = {"loss": 52.9522, "reconstruction": 31.1319, "kl": 1.1573, "cross_entropy": 1.8347,
          "consistency": 2.3157, "VAELoss": 32.2893, "ClassifierAccuracy": 0.6148}


def test_an_epoch_is_named_and_counted_from_one():
    assert epoch_label(0, 2, 20) == "fold 0, epoch 3/20"
    assert epoch_label(1, 0) == "fold 1, epoch 1"


def test_the_values_of_an_epoch_wrap_within_100_columns_under_the_first_value():
    text = epoch_lines("validation", VALUES, 0, 2, 20)
    lines = text.splitlines()
    assert lines[0].startswith("fold 0, epoch 3/20, validation: loss=52.95 reconstruction=31.13")
    assert len(lines) == 2 and all(len(line) <= LINE_WIDTH for line in lines)
    indent = lines[0].index("loss=")
    assert lines[1][:indent].strip() == "" and lines[1][indent] != " "
    shown = " ".join(text.split())
    for name in VALUES:
        assert f"{name}=" in shown  # every value, once
    train = epoch_lines("train", VALUES, 0, 2, 20).splitlines()[0]
    assert train.index("loss=") == indent  # the splits' values line up
    assert epoch_lines("train", {"loss": 1.0}, 0, 0, 1) == "fold 0, epoch 1/1, train:      loss=1"


def test_the_interface_keeps_pynet_summaries_unless_asked_for_named_epochs():
    history = History(name="train")
    history.log((0, 2), loss=0.5)
    interface = DeepLearningInterface(model=torch.nn.Linear(2, 2), loss=torch.nn.MSELoss(),
                                      progress=False)
    assert interface._epoch_summary(history) == "train (0, 2): loss=0.5"  # as pynet
    interface.named_epochs, interface._nb_epochs = True, 20
    assert interface._epoch_summary(history) == "fold 0, epoch 3/20, train:      loss=0.5"


def test_the_final_summary_wraps_its_values_and_names_the_best_checkpoint():
    from pynet_cvae.commands.train import format_summary

    summary = {"dataset": "digits", "epochs": 20, "train_samples": 1000,
               "validation_samples": 200, "wall_time_s": 12.3, "recipe": "conditional",
               "network": "ConditionalCVAE", "train": VALUES, "validation": VALUES,
               "checkpoint": "runs/a/checkpoints/model_0_epoch_19.pth",
               "best_checkpoint": "runs/a/checkpoints/model_0_epoch_12.pth",
               "history_csv": "runs/a/history.csv", "output": "runs/a"}
    lines = format_summary(summary).splitlines()
    assert max(map(len, lines)) <= LINE_WIDTH
    first = next(index for index, line in enumerate(lines) if "final train:" in line)
    assert lines[first].startswith("  final train:      loss 52.9522, reconstruction 31.1319")
    assert lines[first].endswith(",") and lines[first + 1].startswith(" " * 20 + "consistency")
    shown = " ".join(" ".join(lines).split())
    assert "final validation: loss 52.9522," in shown
    for name, value in VALUES.items():
        assert shown.count(f"{name} {value:.4f}") == 2  # train and validation, once each
    assert "  lowest val. loss: runs/a/checkpoints/model_0_epoch_12.pth" in lines
