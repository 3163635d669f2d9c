"""Plugins shipped with pynet-cvae.

Each plugin is a package declared in the ``pynet_cvae.plugins`` entry-point group of
its distribution; importing it registers its networks, losses, metrics and
observers (see :mod:`pynet_cvae.registry`). Third-party plugins work the same way.
"""
