"""The order of the examples inside each gallery section.

sphinx-gallery imports this sort key by its dotted name (a plain string in
``conf.py`` keeps the configuration picklable, so Sphinx can cache it).
"""

from __future__ import annotations

import os
from typing import Tuple

# Reading order: a newcomer starts with the tutorial. Examples not listed here come
# after the listed ones of their section, in alphabetical order.
EXAMPLE_ORDER = (
    "plot_cvae_tutorial.py",
    "plot_vanilla_vae.py",
    "plot_conditional_generation.py",
    "plot_semi_supervised.py",
    "plot_data_manager.py",
    "plot_nifti_autoencoder.py",
    "plot_observer_signals.py",
    "plot_early_stopping_scheduler.py",
    "plot_loggers.py",
    "plot_custom_plugin.py",
    "plot_zoo_model.py",
)


class ExampleOrder:
    """Sort key of sphinx-gallery's ``within_subsection_order``.

    Parameters
    ----------
    src_dir : str
        The section's folder (given by sphinx-gallery, unused).
    """

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> Tuple[int, str]:
        name = os.path.basename(filename)
        if name in EXAMPLE_ORDER:
            return EXAMPLE_ORDER.index(name), name
        return len(EXAMPLE_ORDER), name

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
