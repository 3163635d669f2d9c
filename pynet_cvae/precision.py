"""Mixed precision: the model's forward under autocast, with a gradient scaler for fp16.

``DeepLearningInterface(..., precision=...)`` takes one of :data:`PRECISIONS`:

``"fp32"`` (the default)
    Everything in the parameters' precision, as before.
``"bf16"``
    The model's forward runs under ``torch.autocast(device_type, dtype=torch.bfloat16)``
    (CPU and CUDA). bfloat16 has float32's range, so no gradient scaling is needed.
``"fp16"``
    The forward runs under float16 autocast and a :class:`torch.amp.GradScaler` scales
    the loss before backward, unscales the gradients before clipping, and skips the
    optimizer step of a batch whose gradients overflowed (as torch documents). Meant
    for CUDA; on other devices it runs where torch's autocast supports float16.

Only the model's forward is autocast: its floating outputs (the prediction and the
``layer_outputs`` tensors) are cast back to float32 before the loss and the metrics,
which run in full precision. Losses such as ``binary_cross_entropy``, which torch
refuses to autocast in float16, therefore work unchanged, and the epoch's sums are
float32. The weights and the optimizer stay in float32 ("mixed" precision).
"""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager, Dict, Optional

import torch

__all__ = ["PRECISIONS", "MixedPrecision", "check_precision"]

PRECISIONS = ("fp32", "bf16", "fp16")
"""The values of ``precision=``."""

_ALIASES = {"32": "fp32", "float32": "fp32", "bfloat16": "bf16", "16": "fp16",
            "float16": "fp16", "half": "fp16"}
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: Any) -> str:
    """Return the canonical name of ``precision`` (``"fp32"``, ``"bf16"``, ``"fp16"``).

    Raises
    ------
    ValueError
        If ``precision`` is not one of :data:`PRECISIONS` or their aliases
        (``"float32"``, ``"bfloat16"``, ``"float16"``...).
    """
    name = _ALIASES.get(precision, precision) if isinstance(precision, str) else None
    if name not in PRECISIONS:
        raise ValueError(f"precision {precision!r} unknown; expected one of "
                         f"{list(PRECISIONS)}")
    return name


class MixedPrecision:
    """The autocast context and the optional gradient scaler of a training loop.

    Parameters
    ----------
    precision : {"fp32", "bf16", "fp16"}
        See the module documentation.
    device : torch.device
        The device the model runs on.

    Raises
    ------
    ValueError
        If ``precision`` is unknown or its autocast is not available on ``device``.
    """

    def __init__(self, precision: str, device: torch.device) -> None:
        self.name = check_precision(precision)
        self.device = torch.device(device)
        self.dtype: Optional[torch.dtype] = _DTYPES.get(self.name)
        if self.dtype is not None and not torch.amp.is_autocast_available(self.device.type):
            raise ValueError(f"precision {self.name!r} needs autocast, which torch does not "
                             f"offer on device {str(self.device)!r}")
        self.scaler: Optional[torch.amp.GradScaler] = (
            torch.amp.GradScaler(self.device.type) if self.name == "fp16" else None)

    @property
    def enabled(self) -> bool:
        """Whether the forward runs in reduced precision."""
        return self.dtype is not None

    def autocast(self) -> ContextManager:
        """The context of the model's forward (a no-op in fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def to_full_precision(self, value: Any) -> Any:
        """A reduced-precision floating tensor as float32; anything else unchanged.

        A dict (``layer_outputs``) gets the same treatment for each of its values.
        """
        if self.dtype is None:
            return value
        if isinstance(value, dict):
            return {key: self.to_full_precision(item) for key, item in value.items()}
        if isinstance(value, torch.Tensor) and value.dtype in (torch.float16, torch.bfloat16):
            return value.float()
        return value

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, the loss scaled first in fp16."""
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        loss.backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring the gradients back to their true scale (before clipping them)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """The optimizer's step (through the scaler in fp16, which then updates)."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> Optional[Dict[str, Any]]:
        """The scaler's state (None without a scaler), for checkpoints."""
        return None if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: Optional[Dict[str, Any]]) -> None:
        """Restore a state given by :meth:`state_dict` (ignored without a scaler)."""
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
