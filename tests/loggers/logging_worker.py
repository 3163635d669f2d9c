"""A training followed by loggers, launched by ``torchrun`` in the logger tests.

Run as ``python -m tests.loggers.logging_worker OUTDIR`` from the repository root,
under ``torchrun --nproc_per_node=N``. Every process trains the distributed tests'
classifier for 2 epochs with a TensorBoard and a CSV logger writing into OUTDIR, and
also calls the loggers itself (``rank`` at step 0 of fold 3), as any observer
running on every process would; only rank 0 may write.
"""

import os
import sys

import torch.distributed as dist

from pynet_cvae.loggers import CSVLogger, TensorBoardLogger

from ..distributed_worker import make_interface, make_manager


def main(outdir: str) -> None:
    interface = make_interface()
    loggers = [TensorBoardLogger(os.path.join(outdir, "tensorboard")),
               CSVLogger(os.path.join(outdir, "history.csv"))]
    for logger in loggers:
        interface.add_logger(logger)
    interface.training(make_manager(batch_size=8), nb_epochs=2, fold_index=0)
    for logger in loggers:
        logger.log_scalars({"rank": dist.get_rank()}, step=0, fold=3)
        logger.close()
    dist.barrier()


if __name__ == "__main__":
    main(sys.argv[1])
