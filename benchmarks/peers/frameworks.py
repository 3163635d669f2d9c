"""PyTorch Lightning and PyTorch Ignite running the tutorial's recipe.

Both get the same model, loss, metrics and optimizer as the other contenders, over
a plain ``DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True)``
on the host, written the way each framework's documentation shows: a
``LightningModule`` whose ``training_step`` logs the epoch means with
``self.log(..., on_epoch=True)``, and an Ignite ``Engine`` with a custom update
function and ``Average`` metrics. Lightning runs without logger, checkpointing,
progress bar or model summary, so that it does no more work than the others.
"""

from __future__ import annotations

from typing import Any, Dict

import torch

import recipe
from data import load_tensors


def _loader(options: Dict[str, Any]) -> torch.utils.data.DataLoader:
    images, labels = load_tensors(options["files"])
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels),
                                       batch_size=recipe.BATCH_SIZE, shuffle=True)


class LightningContender:
    """``lightning.Trainer.fit`` on a LightningModule holding the recipe."""

    def __init__(self, options: Dict[str, Any]) -> None:
        import lightning

        self.lightning = lightning
        self.loader = _loader(options)
        self.module = _recipe_module(lightning, options["metrics"])
        self.accelerator = "cuda" if options["device"].startswith("cuda") else "cpu"
        self.devices = _device_indices(options["device"])
        self.samples_per_epoch = len(self.loader.dataset)

    def run(self, epochs: int, pacer: Any) -> None:
        class PaceEpochs(self.lightning.Callback):
            def on_train_epoch_start(self, trainer, module) -> None:
                pacer.epoch_start()

        trainer = self.lightning.Trainer(
            max_epochs=epochs, accelerator=self.accelerator, devices=self.devices,
            logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, callbacks=[PaceEpochs()])
        trainer.fit(self.module, train_dataloaders=self.loader)


def _device_indices(device: str):
    """Lightning's ``devices`` for a torch device string: ``[N]`` for ``cuda:N``."""
    return [torch.device(device).index] if ":" in device else 1


def _recipe_module(lightning: Any, with_metrics: bool) -> Any:
    class RecipeModule(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = recipe.build_model()
            self.loss = recipe.build_loss()
            self.metrics = recipe.build_metrics() if with_metrics else []

        def training_step(self, batch, batch_index):
            images, labels = batch
            loss, reconstruction, layer_outputs = recipe.forward_loss(
                self.model, self.loss, images, labels)
            self.log("loss", loss, on_step=False, on_epoch=True)
            values = recipe.metric_values(self.metrics, reconstruction, images, labels,
                                          layer_outputs)
            for name, value in values.items():
                self.log(name, value, on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self):
            return recipe.build_optimizer(self.model)

    return RecipeModule()


class IgniteContender:
    """An Ignite ``Engine`` whose update function runs one optimisation step."""

    def __init__(self, options: Dict[str, Any]) -> None:
        from ignite.engine import Engine
        from ignite.metrics import Average

        self.device = torch.device(options["device"])
        self.loader = _loader(options)
        self.model = recipe.build_model().to(self.device)
        self.loss = recipe.build_loss()
        self.metrics = recipe.build_metrics() if options["metrics"] else []
        self.optimizer = recipe.build_optimizer(self.model)
        self.engine = Engine(self.update)
        names = ["loss"] + [recipe.metric_name(metric) for metric in self.metrics]
        for name in names:
            Average(output_transform=_pick(name), device=self.device).attach(
                self.engine, name)
        self.samples_per_epoch = len(self.loader.dataset)

    def update(self, engine: Any, batch: Any) -> Dict[str, torch.Tensor]:
        """One optimisation step; returns the loss and metrics for ``Average``."""
        self.model.train()
        images, labels = (tensor.to(self.device, non_blocking=True) for tensor in batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss, reconstruction, layer_outputs = recipe.forward_loss(
            self.model, self.loss, images, labels)
        loss.backward()
        self.optimizer.step()
        output = {"loss": loss.detach()}
        output.update(recipe.metric_values(self.metrics, reconstruction, images, labels,
                                           layer_outputs))
        return output

    def run(self, epochs: int, pacer: Any) -> None:
        from ignite.engine import Events

        self.engine.add_event_handler(Events.EPOCH_STARTED, pacer.epoch_start)
        self.engine.run(self.loader, max_epochs=epochs)


def _pick(name: str):
    def transform(output: Dict[str, torch.Tensor]) -> torch.Tensor:
        return output[name]
    return transform
