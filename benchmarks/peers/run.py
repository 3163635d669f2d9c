"""Time the tutorial's recipe under pynet-cvae and its peers, interleaved epoch by epoch.

Usage (from the repository root, in the benchmark's environment, see
``benchmarks/README.md``)::

    python benchmarks/peers/run.py                  # full run: 1 + 5 epochs each
    python benchmarks/peers/run.py --quick          # a smoke run of a few batches
    python benchmarks/peers/run.py --device cuda --json peers.json

Each contender runs in its own process; the parent lets them train one epoch at a
time in turn (A B C ... A B C ...), so a slow spell of the machine hits all of them
alike. The first ``--warmup`` rounds are dropped; the table gives the median
samples/s over the other rounds, its ratio to the hand-written loop and to the
arithmetic floor, and each process's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

from pynet_cvae.fileio import atomic_write_text

from contenders import CONTENDERS, DESCRIPTIONS, REFERENCE
from data import FASHION_MNIST_TRAIN_IMAGES, prepare_data
from report import format_floor, format_table, summarize
from worker import worker_main

QUICK = {"samples": 1280, "rounds": 2, "warmup": 1, "floor_seconds": 0.01, "pause": 0.1}


class ContenderFailed(RuntimeError):
    """A child reported an error or died."""


class Child:
    """A child process running one contender, and the parent's end of its pipe."""

    def __init__(self, name: str, options: Dict[str, Any], context: Any) -> None:
        self.name = name
        self.log_path = options["log_path"]
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=worker_main, args=(name, options, child_end),
                                       name=f"peers-{name}", daemon=True)
        self.process.start()
        child_end.close()

    def receive(self, expected: str) -> Any:
        """The payload of the next message, which must be ``expected``."""
        try:
            kind, payload = self.connection.recv()
        except EOFError:
            self.process.join(5)
            raise ContenderFailed(f"process exited with code {self.process.exitcode}; "
                                  f"log: {self.log_path}") from None
        if kind == "error":
            raise ContenderFailed(payload.strip().splitlines()[-1] + f"; log: {self.log_path}")
        if kind != expected:
            raise ContenderFailed(f"sent {kind!r}, expected {expected!r}")
        return payload

    def stop(self) -> None:
        self.connection.close()
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def parse_arguments(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma-separated, in round order (default: all: "
                             f"{','.join(CONTENDERS)})")
    parser.add_argument("--rounds", type=int, default=5, help="measured epochs each (5)")
    parser.add_argument("--warmup", type=int, default=1, help="dropped first epochs (1)")
    parser.add_argument("--samples", type=int, default=FASHION_MNIST_TRAIN_IMAGES,
                        help="Fashion-MNIST training images used (all 60000)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (2)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")
    parser.add_argument("--no-metrics", dest="metrics", action="store_false",
                        help="drop the tutorial's two metrics from every contender")
    parser.add_argument("--data-dir", help="where fetch_fashion_mnist prepares the data "
                                           "(default: the per-user cache)")
    parser.add_argument("--pynet-extra-path", default=_default_extra_path(),
                        help="folder holding torchvision for the original pynet only "
                             "(default: $PYNET_EXTRA_PATH or <venv>/pynet-extras)")
    parser.add_argument("--pause", type=float, default=0.5,
                        help="idle seconds between two epochs, untimed (0.5)")
    parser.add_argument("--floor-seconds", type=float, default=0.2,
                        help="least duration of one matmul timing (0.2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-dir", help="keep each child's output there (default: a "
                                          "temporary folder, kept only on failure)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK} unless given explicitly")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            if parser.get_default(name) == getattr(args, name):
                setattr(args, name, value)
    args.contenders = [name.strip() for name in args.contenders.split(",") if name.strip()]
    unknown = [name for name in args.contenders if name not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contenders {unknown}: expected some of {list(CONTENDERS)}")
    for name in ("rounds", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} {getattr(args, name)} must be at least 1")
    if args.warmup < 0:
        parser.error(f"--warmup {args.warmup} must be at least 0")
    _check_device(parser, args.device)
    return args


def _check_device(parser: argparse.ArgumentParser, name: str) -> None:
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        parser.error(f"--device {name!r} unknown: expected 'cpu', 'cuda' or 'cuda:N'")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {name!r} asked for but CUDA is not available here")


def _default_extra_path() -> Optional[str]:
    path = os.environ.get("PYNET_EXTRA_PATH") or os.path.join(sys.prefix, "pynet-extras")
    return path if os.path.isdir(path) else None


def _options(args: argparse.Namespace, files: Any) -> Dict[str, Any]:
    return {"threads": args.threads, "seed": args.seed, "device": args.device,
            "epochs": args.warmup + args.rounds, "files": files, "metrics": args.metrics,
            "floor_seconds": args.floor_seconds, "pynet_extra_path": args.pynet_extra_path}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def start_children(args: argparse.Namespace, options: Dict[str, Any], log_dir: str,
                   context: Any, failures: Dict[str, str]
                   ) -> Tuple[Dict[str, Child], Dict[str, Dict[str, Any]]]:
    """Start the contenders one after the other; keep those that get ready."""
    children, ready = {}, {}
    for name in args.contenders:
        _say(f"setting up {name} ...")
        child = Child(name, dict(options, log_path=os.path.join(log_dir, f"{name}.log")),
                      context)
        try:
            ready[name] = child.receive("ready")
            children[name] = child
        except ContenderFailed as error:
            failures[name] = str(error)
            child.stop()
            _say(f"  {name} FAILED: {error}")
    return children, ready


def measure_floor(options: Dict[str, Any], log_dir: str, context: Any) -> Dict[str, Any]:
    """The floor, measured in a child with the contenders' thread count and device."""
    _say("measuring the matmul rate ...")
    child = Child("floor", dict(options, log_path=os.path.join(log_dir, "floor.log")),
                  context)
    try:
        return child.receive("floor")
    finally:
        child.stop()


def run_rounds(args: argparse.Namespace, children: Dict[str, Child],
               failures: Dict[str, str]) -> Dict[str, List[float]]:
    """Let each child train one epoch in turn; return the measured epoch seconds."""
    seconds: Dict[str, List[float]] = {name: [] for name in children}
    total = args.warmup + args.rounds
    for round_index in range(total):
        label = "warm-up" if round_index < args.warmup else "round"
        timings = []
        for name, child in list(children.items()):
            if name in failures:
                continue
            try:
                child.connection.send("go")
                elapsed = child.receive("epoch")
            except (ContenderFailed, OSError) as error:
                failures[name] = str(error)
                _say(f"  {name} FAILED: {error}")
                continue
            if round_index >= args.warmup:
                seconds[name].append(elapsed)
            timings.append(f"{name} {elapsed:.2f}s")
            time.sleep(args.pause)
        _say(f"{label} {round_index + 1}/{total}: " + ", ".join(timings))
    return seconds


def environment(args: argparse.Namespace) -> Dict[str, Any]:
    import torch

    device = args.device
    if device.startswith("cuda"):
        device = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return {"python": platform.python_version(), "torch": torch.__version__,
            "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "device": device, "threads": args.threads, "rounds": args.rounds,
            "warmup": args.warmup, "metrics": args.metrics}


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_arguments(argv)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    context = multiprocessing.get_context("spawn")
    failures: Dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="pynet_cvae_peers_") as workdir:
        log_dir = args.log_dir or workdir
        os.makedirs(log_dir, exist_ok=True)
        files = prepare_data(args.data_dir, args.samples, workdir)
        options = _options(args, files)
        children, ready = start_children(args, options, log_dir, context, failures)
        try:
            floor = measure_floor(options, log_dir, context)
            seconds = run_rounds(args, children, failures)
            results = {}
            for name, child in children.items():
                if name in failures:
                    continue
                try:
                    results[name] = dict(ready[name], epoch_seconds=seconds[name],
                                         **child.receive("done"))
                except ContenderFailed as error:
                    failures[name] = str(error)
        finally:
            for child in children.values():
                child.stop()
        if failures and args.log_dir is None:
            _say("(the logs named above are deleted on exit: rerun with --log-dir to keep "
                 "them)")
    print_results(args, results, failures, floor)
    return 1 if failures else 0


def print_results(args: argparse.Namespace, results: Dict[str, Dict[str, Any]],
                  failures: Dict[str, str], floor: Dict[str, Any]) -> None:
    reference = (summarize(REFERENCE, results[REFERENCE], None, floor)
                 if REFERENCE in results else None)
    rows = [summarize(name, result, reference, floor) for name, result in results.items()]
    info = environment(args)
    print(f"Tutorial recipe (CVAE 784-128-20, 10 classes, batch 64, Adam 1e-3"
          f"{', metrics' if args.metrics else ', no metrics'}) on Fashion-MNIST, "
          f"{args.samples} training images")
    print(f"device {info['device']}, {args.threads} threads, torch {info['torch']}, "
          f"python {info['python']}, {info['cpu_count']} CPUs; median of {args.rounds} "
          f"interleaved epochs after {args.warmup} warm-up")
    print(format_floor(floor))
    print()
    print(format_table(rows, failures, REFERENCE, args.device.startswith("cuda")))
    print()
    for name in args.contenders:
        print(f"  {name}: {DESCRIPTIONS[name]}")
    for row in rows:
        if row["threads"] != args.threads:
            print(f"note: {row['name']} ended with {row['threads']} torch threads, not the "
                  f"{args.threads} asked for: its framework changed the setting")
    if args.json:
        atomic_write_text(args.json, json.dumps(
            {"environment": info, "floor": floor, "rows": rows, "failures": failures,
             "samples": args.samples}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
