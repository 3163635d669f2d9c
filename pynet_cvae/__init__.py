"""pynet-cvae: a pynet-style PyTorch training framework with a conditional VAE plugin.

Importing the package is cheap: it configures no logging and loads no plugin.
Plugins are discovered the first time a registry is queried.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
