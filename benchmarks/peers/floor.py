"""The arithmetic floor: the recipe's matrix products at the machine's measured rate.

The model's work is its ``nn.Linear`` layers. For a mini-batch of ``B`` samples a
layer ``in -> out`` costs ``B * in * out`` multiply-adds forward, as many for its
weight gradient, and as many again for its input gradient when its input needs one
(the two layers that read the images do not: autograd skips that product). The
usual "training = 3 x forward" figure is reported beside this exact count.

The rate is measured with ``torch.mm`` on each of those matrix shapes, with the
benchmark's thread count and device. The floor is the time of one mini-batch's
products at these rates; its samples/s is what a loop would reach if everything
but the matrix products were free.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Tuple

import torch

import recipe

Shape = Tuple[int, int, int]


def linear_layers(model: torch.nn.Module) -> List[Dict[str, Any]]:
    """The model's linear layers in call order, with whether their input needs a gradient."""
    seen: List[Dict[str, Any]] = []

    def record(module, inputs, output):
        seen.append({"in": module.in_features, "out": module.out_features,
                     "input_grad": bool(inputs[0].requires_grad)})

    hooks = [module.register_forward_hook(record) for module in model.modules()
             if isinstance(module, torch.nn.Linear)]
    try:
        model(torch.rand(2, recipe.INPUT_DIM))
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def matmul_shapes(layers: List[Dict[str, Any]], batch: int) -> List[Shape]:
    """The ``(m, k, n)`` products of one training step (``(m x k) @ (k x n)``)."""
    shapes = []
    for layer in layers:
        shapes.append((batch, layer["in"], layer["out"]))      # forward
        shapes.append((layer["out"], batch, layer["in"]))      # weight gradient
        if layer["input_grad"]:
            shapes.append((batch, layer["out"], layer["in"]))  # input gradient
    return shapes


def time_matmul(shape: Shape, device: torch.device, min_seconds: float,
                repeats: int = 5) -> float:
    """The least seconds of one ``torch.mm`` of ``shape``, over ``repeats`` timings.

    The least, not the median: the floor is what the machine can do, and every
    disturbance only makes a timing longer.
    """
    m, k, n = shape
    left = torch.rand(m, k, device=device)
    right = torch.rand(k, n, device=device)
    out = torch.empty(m, n, device=device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(20):
        torch.mm(left, right, out=out)
    synchronize()
    timings = []
    for _ in range(repeats):
        calls, started = 0, time.perf_counter()
        while True:
            for _ in range(10):
                torch.mm(left, right, out=out)
            calls += 10
            synchronize()
            elapsed = time.perf_counter() - started
            if elapsed >= min_seconds:
                break
        timings.append(elapsed / calls)
    return min(timings)


def measure_floor(options: Dict[str, Any]) -> Dict[str, Any]:
    """Count the recipe's multiply-adds and time its products on this machine.

    Parameters
    ----------
    options : dict
        ``device`` and ``floor_seconds`` (the least time of one timing of a shape).

    Returns
    -------
    dict
        ``forward_macs`` and ``training_macs`` per sample (exact),
        ``convention_macs`` (3 x forward), ``gflops`` (the products' rate),
        ``floor_samples_per_s`` and the per-shape ``shapes`` timings.
    """
    device = torch.device(options["device"])
    layers = linear_layers(recipe.build_model())
    batch = recipe.BATCH_SIZE
    shapes = matmul_shapes(layers, batch)
    timings = {shape: time_matmul(shape, device, options["floor_seconds"])
               for shape in sorted(set(shapes))}
    step_seconds = sum(timings[shape] for shape in shapes)
    step_macs = sum(m * k * n for m, k, n in shapes)
    forward_macs = sum(layer["in"] * layer["out"] for layer in layers)
    return {
        "forward_macs": forward_macs,
        "training_macs": step_macs // batch,
        "convention_macs": 3 * forward_macs,
        "gflops": 2 * step_macs / step_seconds / 1e9,
        "floor_samples_per_s": batch / step_seconds,
        "shapes": [{"m": m, "k": k, "n": n, "seconds": seconds,
                    "gflops": 2 * m * k * n / seconds / 1e9}
                   for (m, k, n), seconds in timings.items()],
    }
