"""``pynet-cvae evaluate``: measure trained models on their data set's test split.

For each ``--checkpoint`` it prints (and writes as JSON) the negative ELBO and the
importance-weighted -log p(x) in nats per image, the classifier's accuracy, the
conditional generation accuracy given by an independent judge CNN (overall and
worst class), the diversity ratio of the generated images, the judge's accuracy on
reconstructions and on real test images, the Fréchet distance and precision/recall
of generated images in the judge's feature space and, with ``--cas N``, the
Classification Accuracy Score (see
:mod:`pynet_cvae.plugins.cvae.evaluation`). The judge is trained once per data set
and cached beside it (or in ``--judge-dir``), for models conditioned on the class
alone (the only ones it can score).
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Dict, List, Optional

from ....commands.types import non_negative_int, positive_int, seed
from .sample import add_acceptance_argument, check_generative, resolve_checkpoint


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` command."""
    evaluate = subparsers.add_parser(
        "evaluate", help="measure trained models on the test split",
        description="Evaluate trained CVAEs on their data set's test split: likelihood "
                    "bounds, classifier accuracy, conditional generation accuracy and "
                    "diversity (judged by a CNN trained on the training split).")
    evaluate.add_argument("--checkpoint", required=True, nargs="+",
                          help="checkpoint files or run directories (one table column "
                               "each)")
    evaluate.add_argument("--names", nargs="+", default=None,
                          help="column names (default: the run directories' names)")
    evaluate.add_argument("--config", default=None,
                          help="the model_config.json of a single checkpoint (default: "
                               "beside each checkpoint)")
    evaluate.add_argument("--dataset", default=None,
                          help="the data set, a short name or a registered fetcher "
                               "(default: the one the model was trained on)")
    evaluate.add_argument("--datasetdir", default=None,
                          help="its folder (default: the one the model was trained with)")
    evaluate.add_argument("--iw-samples", type=non_negative_int, default=100,
                          help="importance samples K per class and image (default 100; "
                               "0 skips the estimate)")
    evaluate.add_argument("--samples-per-class", type=positive_int, default=100,
                          help="generated images per class (default 100)")
    evaluate.add_argument("--fidelity-samples", type=non_negative_int, default=500,
                          help="generated images per class of the Frechet distance and "
                               "precision/recall (default 500; 0 skips them)")
    evaluate.add_argument("--cas", type=non_negative_int, default=0, metavar="N",
                          help="the Classification Accuracy Score with N training images "
                               "per class (trains a classifier on generated images, "
                               "and once per data set one on real images, cached with "
                               "the judge; default 0: skipped)")
    evaluate.add_argument("--test-images", type=positive_int, default=None,
                          help="evaluate a seeded random subset of the test split")
    evaluate.add_argument("--judge-dir", default=None,
                          help="where the judge (and the CAS classifier of real images) is "
                               "cached (default: beside the data)")
    evaluate.add_argument("--judge-epochs", type=positive_int, default=None,
                          help="the judge's training epochs (default 10, the judge's own)")
    evaluate.add_argument("--json", default=None,
                          help="write the results there (default: evaluation.json beside "
                               "the first checkpoint)")
    evaluate.add_argument("--device", default="cpu",
                          help="cpu, cuda or auto (default cpu)")
    evaluate.add_argument("--threads", type=positive_int, default=None,
                          help="torch threads (default: torch's choice)")
    evaluate.add_argument("--seed", type=seed, default=0,
                          help="seed of the latent draws and the test subset (default 0)")
    add_acceptance_argument(evaluate)
    evaluate.add_argument("--quiet", action="store_true", help="print only the table")
    evaluate.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Evaluate every checkpoint; print the table and write the JSON."""
    from ..evaluation import format_table, save_results

    results = evaluate(arguments)
    path = arguments.json or os.path.join(
        os.path.dirname(os.path.abspath(resolve_checkpoint(arguments.checkpoint[0]))),
        "evaluation.json")
    save_results(path, results)
    print(format_table(results))
    print(f"results: {path}")
    return 0


def evaluate(arguments: argparse.Namespace) -> Dict[str, Dict[str, Any]]:
    """Evaluate the checkpoints of ``pynet-cvae evaluate``'s arguments.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed arguments.

    Returns
    -------
    dict
        Column name -> the results of
        :func:`~pynet_cvae.plugins.cvae.evaluation.evaluate_model`, with the
        checkpoint, data set, recipe and network.
    """
    import torch

    from ....interfaces import resolve_device
    from ....trained import load_trained_model
    from ..evaluation import evaluate_model
    from ..judge import JUDGE_EPOCHS, load_or_train_judge
    from ....commands.train import fetch_dataset

    if arguments.threads is not None:
        torch.set_num_threads(arguments.threads)
    if arguments.config is not None and len(arguments.checkpoint) > 1:
        raise ValueError("--config applies to a single --checkpoint; got "
                         f"{len(arguments.checkpoint)} checkpoints")
    names = _column_names(arguments.checkpoint, arguments.names)
    device = resolve_device(arguments.device)
    results: Dict[str, Dict[str, Any]] = {}
    for name, checkpoint in zip(names, arguments.checkpoint):
        path = resolve_checkpoint(checkpoint)
        model, config = load_trained_model(path, arguments.config, map_location=device)
        check_generative(model, config["network"])
        dataset = arguments.dataset or config.get("dataset", "digits")
        datasetdir = arguments.datasetdir or config.get("datasetdir")
        data = fetch_dataset(dataset, datasetdir)
        judge = None
        if model.condition.is_class_only:  # the judge scores classes alone
            judge = load_or_train_judge(data.input_path, data.metadata_path,
                                        cache_dir=arguments.judge_dir,
                                        epochs=arguments.judge_epochs or JUDGE_EPOCHS,
                                        device=device)
        results[name] = evaluate_model(
            model, data.input_path, data.metadata_path, judge,
            iw_samples=arguments.iw_samples, samples_per_class=arguments.samples_per_class,
            max_test_images=arguments.test_images,
            fidelity_samples_per_class=arguments.fidelity_samples,
            cas_images_per_class=arguments.cas, seed=arguments.seed,
            acceptance_threshold=arguments.acceptance_threshold)
        results[name].update({"checkpoint": os.path.abspath(path), "dataset": dataset,
                              "recipe": config.get("recipe"), "network": config["network"]})
        if not arguments.quiet:
            print(f"{name}: evaluated {path} in {results[name]['wall_time_s']:.1f} s")
    return results


def _column_names(checkpoints: List[str], names: Optional[List[str]]) -> List[str]:
    if names is not None:
        if len(names) != len(checkpoints):
            raise ValueError(f"--names gives {len(names)} names for {len(checkpoints)} "
                             "checkpoints: expected one per checkpoint")
        return names
    columns = []
    for checkpoint in checkpoints:
        directory = os.path.abspath(checkpoint if os.path.isdir(checkpoint)
                                    else os.path.dirname(checkpoint))
        if os.path.basename(directory) == "checkpoints":
            directory = os.path.dirname(directory)
        name = os.path.basename(directory)
        while name in columns:
            name += "'"
        columns.append(name)
    return columns
