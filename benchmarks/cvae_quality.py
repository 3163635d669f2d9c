"""Reproduce the evaluation table of the CVAE variants (issue 8).

Each variant is one ``pynet-cvae train`` command (printed as it runs) followed by one
``pynet-cvae evaluate`` command; the script then prints the evaluation table, one
column per variant, and writes it as JSON (``<output>/quality.json``)::

    python benchmarks/cvae_quality.py --datasetdir ~/data/fashion --threads 2
    python benchmarks/cvae_quality.py --datasetdir ~/data/fashion --variants tutorial default
    python benchmarks/cvae_quality.py --datasetdir ~/data/fashion --semi-supervised
    python benchmarks/cvae_quality.py --datasetdir ~/data/fashion --cas 1000  # + CAS

``--semi-supervised`` runs the semi-supervised comparison instead: 100 labelled
images per class and the rest unlabelled, against the same network trained on the
labelled images alone. Trained variants are reused (``--retrain`` trains again). With
2 CPU cores, keep ``--jobs 1`` and ``--threads 1`` or 2; on a GPU machine,
``--device cuda --jobs 4`` trains several variants at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List

#: The variants of the quality comparison: extra ``pynet-cvae train`` arguments. The
#: default is the convolutional conditional model; the dense ("mlp") variants show
#: what each option changes, the ``aggregate-prior`` ones what the recipe of that name
#: (a KL weight of 0.3, a mixture prior fitted to the codes) owes to each choice.
#: Dense networks instead of the default convolutional ones.
DENSE: List[str] = ["--model.encoder", "DenseTrunk", "--model.decoder", "DenseDecoder"]
VARIANTS: Dict[str, List[str]] = {
    "tutorial": ["--recipe", "tutorial"],
    "default": [],
    "mlp": DENSE,
    "mlp-no-consistency": [*DENSE, "--model.consistency_weight", "0"],
    "mlp-consistency-3": [*DENSE, "--model.consistency_weight", "3"],
    "mlp-hidden-128": [*DENSE, "--model.hidden_dim", "128"],
    "mlp-lr-1e-3": [*DENSE, "--learning_rate", "0.001"],
    "mlp-kl-warmup-5": [*DENSE, "--kl_warmup", "5"],
    "mlp-latent-10": [*DENSE, "--model.latent_dim", "10"],
    "mlp-separate-classifier": [*DENSE, "--model.classifier_trunk", "DenseTrunk"],
    "aggregate-prior": ["--recipe", "aggregate-prior"],
    "default-aggregate-prior": ["--model.aggregate_prior", "10"],
    "aggregate-prior-kl-0.1": ["--recipe", "aggregate-prior", "--model.kl_weight", "0.1"],
    "aggregate-prior-consistency-3": ["--recipe", "aggregate-prior",
                                      "--model.consistency_weight", "3"],
    "aggregate-prior-kl-0.2-consistency-3": ["--recipe", "aggregate-prior",
                                             "--model.kl_weight", "0.2",
                                             "--model.consistency_weight", "3"],
    "aggregate-prior-40-epochs": ["--recipe", "aggregate-prior", "--epochs", "40"],
    "aggregate-prior-kl-0.1-no-consistency": ["--recipe", "aggregate-prior",
                                              "--model.kl_weight", "0.1",
                                              "--model.consistency_weight", "0"],
    "aggregate-prior-gaussian": ["--recipe", "aggregate-prior", "--model.likelihood",
                                 "gaussian", "--model.likelihood_sigma", "0.1"],
    "aggregate-prior-gaussian-classification-100": [
        "--recipe", "aggregate-prior", "--model.likelihood", "gaussian",
        "--model.likelihood_sigma", "0.1", "--model.classification_weight", "100"],
}

#: The semi-supervised comparison (100 labelled images per class): each network
#: trained on labelled and unlabelled images, then on the labelled images alone. A
#: variant's own ``--epochs`` overrides the common one. Semi-supervised batches hold 32
#: labelled and 64 unlabelled images (``--batch_size 96``, a third labelled). The
#: chosen recipe (``semi-supervised-conv``) gives the classifier its own trunk, trains it
#: on labels and on pseudo-labels of augmented unlabelled images but not on the ELBO,
#: evaluates it with the moving average of its weights and decays the learning rate
#: along a cosine; the other variants each undo one of these choices. The
#: convolutional variants sample the class of unlabelled images: summing every class
#: decodes each image ten times, hours on 2 CPU cores.
MIXED: List[str] = ["--recipe", "semi-supervised", "--labelled_per_class", "100",
                    "--batch_size", "96", "--model.unlabelled", "sample"]
CHOSEN: List[str] = [*MIXED, "--model.pseudo_labels", "--model.classifier_average", "0.999",
                     "--learning_rate", "0.002", "--lr_schedule", "cosine",
                     "--model.classifier_trunk", "Conv2dTrunk"]
#: The chosen recipe with the batch-normalised deeper classifier.
BATCHNORM: List[str] = [*CHOSEN, "--model.elbo_trains_classifier", "false",
                        "--model.classifier_trunk", "Conv2dBatchNormTrunk"]
BASELINE: List[str] = ["--labelled_per_class", "100", "--labelled_only", "--classifier_only"]
SEMI_SUPERVISED: Dict[str, List[str]] = {
    "semi-supervised-conv": [*CHOSEN, "--model.elbo_trains_classifier", "false"],
    "semi-supervised-groupnorm": [*CHOSEN, "--model.elbo_trains_classifier", "false",
                                  "--model.classifier_trunk", "Conv2dGroupNormTrunk"],
    "semi-supervised-batchnorm": BATCHNORM,
    "semi-supervised-batchnorm-threshold-0.8": [*BATCHNORM,
                                                "--model.pseudo_label_threshold", "0.8"],
    "semi-supervised-batchnorm-threshold-0.8-flip": [
        *BATCHNORM, "--model.pseudo_label_threshold", "0.8", "--model.augment_flip"],
    "semi-supervised-conv-elbo-trains-classifier": CHOSEN,
    "semi-supervised-conv-no-pseudo-labels": [*MIXED, "--learning_rate", "0.002",
                                              "--lr_schedule", "cosine"],
    "semi-supervised-conv-shared-constant-lr": [*MIXED, "--model.pseudo_labels",
                                                "--learning_rate", "0.001",
                                                "--model.augment_flip"],
    "classifier-only-conv": BASELINE,
    "classifier-only-conv-200": [*BASELINE, "--epochs", "200"],
    "classifier-only-groupnorm": [*BASELINE, "--model.classifier_trunk",
                                  "Conv2dGroupNormTrunk"],
    "semi-supervised-mlp-m2": ["--recipe", "semi-supervised", *DENSE,
                               "--labelled_per_class", "100"],
    "classifier-only-mlp": [*BASELINE, *DENSE],
}


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--datasetdir", default=None)
    parser.add_argument("--output", default="runs/cvae_quality")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--variants", nargs="+", default=None,
                        help=f"variants to run (default: all of {list(VARIANTS)}, or "
                             f"{list(SEMI_SUPERVISED)} with --semi-supervised)")
    parser.add_argument("--semi-supervised", action="store_true")
    parser.add_argument("--extra", default="",
                        help="more pynet-cvae train arguments for every variant")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1, help="variants trained at once")
    parser.add_argument("--iw-samples", type=int, default=None,
                        help="importance samples (default 100; 0 with --semi-supervised, "
                             "which compares the classifiers)")
    parser.add_argument("--test-images", type=int, default=None)
    parser.add_argument("--cas", type=int, default=0, metavar="N",
                        help="the Classification Accuracy Score with N images per class "
                             "(e.g. 1000; default 0: skipped)")
    parser.add_argument("--acceptance-threshold", type=threshold_text, default="0",
                        metavar="P",
                        help="evaluate with rejection sampling by the model's classifier "
                             "(pynet-cvae evaluate --acceptance-threshold; default 0: off)")
    parser.add_argument("--retrain", action="store_true")
    return parser.parse_args()


def threshold_text(text: str) -> str:
    """An argparse type: a threshold in [0, 1), kept as written (it names the results)."""
    from pynet_cvae.commands.types import decay

    decay(text)
    return text


def pynet_cvae(*arguments: str) -> List[str]:
    return [sys.executable, "-m", "pynet_cvae.cli", *arguments]


def run_command(command: List[str], log_path: str) -> None:
    printable = "pynet-cvae " + " ".join(shlex.quote(part) for part in command[3:])
    print(f"$ {printable}", flush=True)
    start = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    if status:
        with open(log_path, encoding="utf-8") as log:
            print(log.read()[-3000:], file=sys.stderr)
        raise SystemExit(f"failed ({status}): {printable}")
    print(f"  done in {time.perf_counter() - start:.0f} s ({log_path})", flush=True)


def data_arguments(arguments: argparse.Namespace) -> List[str]:
    extra = ["--dataset", arguments.dataset]
    if arguments.datasetdir:
        extra += ["--datasetdir", arguments.datasetdir]
    return extra


def train_and_evaluate(name: str, options: List[str], arguments: argparse.Namespace) -> str:
    run_dir = os.path.join(arguments.output, name)
    epochs = arguments.epochs
    if "--epochs" in options:
        epochs = int(options[options.index("--epochs") + 1])
    else:
        options = ["--epochs", str(epochs), *options]
    checkpoint = os.path.join(run_dir, "checkpoints", f"model_0_epoch_{epochs - 1}.pth")
    if arguments.retrain or not os.path.isfile(checkpoint):
        os.makedirs(run_dir, exist_ok=True)
        run_command(pynet_cvae("train", *data_arguments(arguments), "--output", run_dir,
                               "--threads",
                               str(arguments.threads), "--device", arguments.device,
                               "--quiet", *options, *shlex.split(arguments.extra)),
                    os.path.join(run_dir, "train.log"))
    result = os.path.join(run_dir, "evaluation.json")
    threshold = arguments.acceptance_threshold
    if float(threshold):
        name += f"-accept-{threshold}"
        result = os.path.join(run_dir, f"evaluation_accept_{threshold}.json")
    evaluate = ["evaluate", "--checkpoint", checkpoint, "--names", name, "--json", result,
                "--acceptance-threshold", threshold,
                "--iw-samples", str(arguments.iw_samples), "--threads",
                str(arguments.threads), "--device", arguments.device, "--quiet"]
    if arguments.test_images:
        evaluate += ["--test-images", str(arguments.test_images)]
    if arguments.cas:
        evaluate += ["--cas", str(arguments.cas)]
    run_command(pynet_cvae(*evaluate), os.path.join(run_dir, "evaluate.log"))
    return result


def prepare_judge(arguments: argparse.Namespace) -> None:
    """Train (or find) the judge once, before evaluations run side by side."""
    import torch

    from pynet_cvae.commands.train import fetch_dataset
    from pynet_cvae.plugins.cvae.judge import load_or_train_judge

    torch.set_num_threads(max(arguments.threads, 1))
    data = fetch_dataset(arguments.dataset, arguments.datasetdir)
    device = "cuda" if arguments.device.startswith("cuda") else "cpu"
    judge = load_or_train_judge(data.input_path, data.metadata_path, device=device)
    print(f"judge: {judge.path} (test accuracy {judge.test_accuracy:.4f})", flush=True)


def main() -> None:
    from pynet_cvae.plugins.cvae.evaluation import format_table, save_results

    arguments = parse_arguments()
    if arguments.iw_samples is None:
        arguments.iw_samples = 0 if arguments.semi_supervised else 100
    table = SEMI_SUPERVISED if arguments.semi_supervised else VARIANTS
    names = arguments.variants or list(table)
    unknown = [name for name in names if name not in table]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}: expected some of {list(table)}")
    prepare_judge(arguments)
    with ThreadPoolExecutor(max_workers=max(1, arguments.jobs)) as pool:
        paths = list(pool.map(lambda name: train_and_evaluate(name, table[name], arguments),
                              names))
    results = {}
    for name, path in zip(names, paths):
        with open(path, encoding="utf-8") as stream:
            results.update(json.load(stream))
    summary = os.path.join(arguments.output, "semi_supervised.json" if
                           arguments.semi_supervised else "quality.json")
    save_results(summary, results)
    print(format_table(results))
    print(f"results: {summary}")


if __name__ == "__main__":
    main()
