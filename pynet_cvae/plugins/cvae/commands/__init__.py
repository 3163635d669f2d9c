"""The CVAE plugin's commands of ``pynet-cvae``: ``sample``, ``evaluate`` and ``export``.

They are declared in the ``pynet_cvae.commands`` entry-point group (see
:mod:`pynet_cvae.commands`), so the core's ``pynet-cvae`` finds them without
importing the plugin.
"""
