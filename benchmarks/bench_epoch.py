"""One training epoch of a recipe: DeepLearningInterface vs a hand-written loop.

Run on demand (not part of the test suite), on a quiet machine::

    python benchmarks/bench_epoch.py                        # the tutorial's recipe
    python benchmarks/bench_epoch.py --recipe conditional   # the default recipe
    python benchmarks/bench_epoch.py --with-validation  # + a validation pass each
    python benchmarks/bench_epoch.py --profile          # + a cProfile of one epoch
    python benchmarks/bench_epoch.py --quick            # a small check that it runs

The recipes, on 28 x 28 Fashion-MNIST images, mini-batches of 64, ``--threads`` torch
threads (2 by default):

- ``tutorial``: the tutorial's CVAE (input 784, hidden 128, latent 20, 10 classes),
  ``DecodeLoss(classification_weight=10)`` with the metrics ``VAELoss`` and
  ``ClassificationLoss`` (the loss's terms stand for them), Adam at 1e-3;
- ``conditional``: the default recipe of ``pynet-cvae train``, as
  its registered recipe builds it (the convolutional
  ``ConditionalCVAE`` trained with its objective, consistency term included, the
  metrics ``VAELoss`` and ``ClassifierAccuracy``, Adam at 3e-3), its observers
  attached (the interface's: the sample grid written after each epoch).

Contenders, run interleaved (A B A B ...), each with its own copy of the same model
(same seed), loss and metrics:

- ``interface``: ``DeepLearningInterface(...).training(manager, nb_epochs=1)`` over the
  tutorial's ``DataManager`` (memory-mapped ``.npy``, ``Flatten``, ``add_input``);
- ``hand loop``: a hand-written PyTorch loop over tensors loaded beforehand (shuffle,
  index, forward, loss, backward, step, the metrics of the batch summed on the
  device and read once per epoch): the practical limit.

It prints each one's median samples per second and the ratio of the medians
(interface / hand loop); the goal is a ratio of at least 0.9 for the tutorial's
recipe, 0.95 for the default one.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, NamedTuple, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_data_loading import (  # noqa: E402  (a sibling script)
    TEST_IMAGES, TRAIN_IMAGES, Files, load_arrays, prepare_fashion_mnist, tutorial_manager)

BATCH_SIZE = 64


RECIPES = ("tutorial", "conditional")


class Recipe(NamedTuple):
    """What both contenders train: a model, its loss and metrics, how it is called."""

    model: torch.nn.Module
    loss: Callable
    metrics: List[Callable]
    learning_rate: float
    add_labels: bool
    observers: List[Tuple[str, Callable]]


def _recipe(name: str, files: Files, seed: int = 0, return_terms: bool = False) -> Recipe:
    from pynet_cvae.plugins.cvae import CVAE, ClassificationLoss, DecodeLoss, VAELoss
    from pynet_cvae.recipes import DataContext
    from pynet_cvae.registry import Recipes

    torch.manual_seed(seed)
    if name == "conditional":
        recipe = Recipes.get("conditional")()
        context = DataContext(files.input_path, files.metadata_path, (28, 28),
                              output=os.path.dirname(files.input_path), seed=seed,
                              batch_size=BATCH_SIZE, folds=1, sample_size=1.0)
        plan = recipe.build(recipe.options_class(), recipe.model_defaults(), context,
                            recipe.network)
        return Recipe(plan.model, plan.loss, plan.metrics, recipe.defaults["learning_rate"],
                      plan.add_labels, plan.observers)
    model = CVAE(input_dim=784, hidden_dim=128, latent_dim=20, n_classes=10)
    loss = DecodeLoss(classification_weight=10.0, return_terms=return_terms)
    # the hand loop leaves the metrics out: the interface's loss terms stand for them
    metrics = [ClassificationLoss(), VAELoss()] if return_terms else []
    return Recipe(model, loss, metrics, 1e-3, False, [])


def interface_epoch(files: Files, recipe_name: str) -> Callable[[], int]:
    """One epoch through DeepLearningInterface and the DataManager; returns samples."""
    from pynet_cvae.interfaces import DeepLearningInterface

    recipe = _recipe(recipe_name, files, return_terms=True)
    interface = DeepLearningInterface(model=recipe.model, optimizer_name="Adam",
                                      learning_rate=recipe.learning_rate, loss=recipe.loss,
                                      metrics=recipe.metrics, add_labels=recipe.add_labels,
                                      progress=False)
    for signal, observer in recipe.observers:
        interface.add_observer(signal, observer)
    manager = tutorial_manager(files, BATCH_SIZE)

    def run() -> int:
        interface.training(manager, nb_epochs=1, fold_index=0,
                           with_validation=bool(files.validation))
        return files.samples
    return run


def _forward(recipe: Recipe, x: torch.Tensor, y: torch.Tensor):
    """The recipe's loss on a batch (a tensor) and the model's outputs."""
    reconstruction, layer_outputs = recipe.model(x, y) if recipe.add_labels \
        else recipe.model(x)
    recipe.loss.layer_outputs = layer_outputs
    value = recipe.loss(reconstruction, x, y)
    return (value[0] if isinstance(value, tuple) else value), reconstruction, layer_outputs


def hand_loop_epoch(files: Files, recipe_name: str) -> Callable[[], int]:
    """One epoch of a hand-written loop over pre-loaded tensors; returns samples."""
    recipe = _recipe(recipe_name, files)
    optimizer = torch.optim.Adam(recipe.model.parameters(), lr=recipe.learning_rate)
    images, labels = (torch.from_numpy(array) for array in load_arrays(files))
    held_out = [torch.from_numpy(array) for array in load_arrays(files, "validation")]
    generator = torch.Generator().manual_seed(0)

    def metric_values(reconstruction, x, y, layer_outputs) -> List[torch.Tensor]:
        values = []
        for metric in recipe.metrics:
            metric.layer_outputs = layer_outputs
            values.append(metric(reconstruction, x, y))
        return values

    def run() -> int:
        recipe.model.train()
        sums = torch.zeros(len(recipe.metrics) + 1)
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), BATCH_SIZE):
            rows = order[start:start + BATCH_SIZE]
            x, y = images[rows], labels[rows]
            optimizer.zero_grad(set_to_none=True)
            loss, reconstruction, layer_outputs = _forward(recipe, x, y)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                sums += torch.stack([loss.detach(), *metric_values(
                    reconstruction.detach(), x, y, layer_outputs)])
        recipe.model.eval()
        with torch.no_grad():
            for start in range(0, len(held_out[0]), BATCH_SIZE):
                x = held_out[0][start:start + BATCH_SIZE]
                y = held_out[1][start:start + BATCH_SIZE]
                loss, reconstruction, layer_outputs = _forward(recipe, x, y)
                metric_values(reconstruction, x, y, layer_outputs)
        sums.tolist()
        return len(images)
    return run


def measure(contenders: Dict[str, Callable[[], int]], repeats: int) -> Dict[str, List[float]]:
    """Run the contenders interleaved ``repeats`` times; samples per second of each."""
    rates: Dict[str, List[float]] = {name: [] for name in contenders}
    for name, run in contenders.items():  # warm up
        run()
    for _ in range(repeats):
        for name, run in contenders.items():
            start = time.perf_counter()
            samples = run()
            rates[name].append(samples / (time.perf_counter() - start))
    return rates


def profile(run: Callable[[], int], lines: int = 15) -> None:
    """Print the functions taking the most time in one run, with their share.

    First by own time (where the time goes), then the project's functions by
    cumulative time (which step of the loop spends it: data loading, metrics...).
    """
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = stats.total_tt
    rows = list(stats.stats.items())
    print(f"\nProfile of one interface epoch ({total:.2f} s), by own time:")
    _print_rows(sorted(rows, key=lambda item: item[1][2], reverse=True)[:lines], total)
    print("pynet_cvae's functions, by cumulative time:")
    ours = [row for row in rows if f"{os.sep}pynet_cvae{os.sep}" in row[0][0]]
    _print_rows(sorted(ours, key=lambda item: item[1][3], reverse=True)[:lines], total)


def _print_rows(rows, total: float) -> None:
    for (path, line, function), (_, calls, own, cumulative, _) in rows:
        print(f"{100 * own / total:6.1f}% own {100 * cumulative / total:6.1f}% cum "
              f"{calls:>8} calls  {os.path.basename(path)}:{line}({function})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=RECIPES, default="tutorial")
    parser.add_argument("--samples", type=int, default=TRAIN_IMAGES)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--with-validation", action="store_true",
                        help="add a validation pass (a sixth of --samples, at most 10,000 "
                             "test images) to each epoch")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--datadir", help="where Fashion-MNIST is prepared (cached)")
    parser.add_argument("--quick", action="store_true", help="2,000 images, 2 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.repeats = min(args.samples, 2000), 2
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_epoch_") as workdir:
        validation = min(TEST_IMAGES, max(1, args.samples // 6)) if args.with_validation else 0
        files = prepare_fashion_mnist(args.samples, workdir, args.datadir, validation)
        contenders = {"interface": interface_epoch(files, args.recipe),
                      "hand loop": hand_loop_epoch(files, args.recipe)}
        print(f"{args.recipe} recipe on {files.samples} Fashion-MNIST images"
              f"{f' + {validation} validation images' if validation else ''}, batch "
              f"{BATCH_SIZE}, {args.threads} threads, {args.repeats} interleaved runs")
        rates = measure(contenders, args.repeats)
        for name, values in rates.items():
            print(f"{name:<10} median {statistics.median(values):>9,.0f} samples/s   runs "
                  + ", ".join(f"{value:,.0f}" for value in values))
        ratio = statistics.median(rates["interface"]) / statistics.median(rates["hand loop"])
        print(f"ratio of medians (interface / hand loop): {ratio:.3f}")
        if args.profile:
            profile(contenders["interface"])


if __name__ == "__main__":
    main()
