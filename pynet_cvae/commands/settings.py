"""The typed configuration of ``pynet-cvae train`` and its parser.

A run's configuration has three parts, each a dataclass whose fields and docstrings
make the command line's flags (through jsonargparse):

- the common settings, :class:`TrainSettings` (``--epochs``, ``--dataset``...);
- the recipe's options (``--recipe NAME`` chooses a registered
  :class:`~pynet_cvae.recipes.Recipe`; its :attr:`~pynet_cvae.recipes.Recipe.options_class`
  adds its flags, e.g. ``--kl_warmup``);
- the model's fields, ``--model.<field>``: the network's config dataclass for a zoo
  model, the arguments of its constructor otherwise (``--network NAME`` chooses
  another registered network than the recipe's).

``--config FILE`` reads YAML or JSON (the same keys; several files apply in order)
and every flag overrides the files, wherever it stands on the line.
``--print_config`` (or ``--print-config``) prints the resolved configuration, which
``--config`` reads back to train the same run. Dashes and underscores are the same
in option names (``--batch-size`` is ``--batch_size``), and a boolean flag alone
means true (``--quiet``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, NoReturn, Optional, Sequence, Tuple

from .types import MAX_SEED

__all__ = ["TrainSettings", "build_train_parser", "parse_train_arguments",
           "normalise_arguments", "DATASETS", "CHANGEABLE"]

#: The data sets known by a short name, and their fetchers.
DATASETS = {"digits": "fetch_digits", "mnist": "fetch_minst",
            "fashion-mnist": "fetch_fashion_mnist", "thick-digits": "fetch_thick_digits",
            "synthetic-cohort": "fetch_synthetic_cohort"}

#: The settings a resumed run may change (the others are compared with the run's).
CHANGEABLE = ("epochs", "resume", "overwrite", "keep_last", "early_stopping", "quiet",
              "threads", "device", "logger", "mlflow_uri", "mlflow_experiment", "board",
              "env", "port", "host", "allow_remote", "login", "output")

PROG = "pynet-cvae train"


@dataclass
class TrainSettings:
    """The settings every recipe shares.

    Parameters
    ----------
    recipe : str, default "conditional"
        The registered recipe (``tutorial``, ``conditional``, ``semi-supervised``,
        ``prior``, ``network`` or a plugin's); its options are flags too.
    network : str, optional
        The registered network to train (default: the recipe's); its fields are the
        ``--model.*`` flags.
    dataset : str, default "digits"
        ``digits`` (embedded, no network), ``mnist``, ``fashion-mnist``,
        ``thick-digits`` (the digits with a stroke thickness covariate),
        ``synthetic-cohort`` (brain volumes with covariates), a participants table of
        NIfTI images (a ``.tsv`` path: its column of ``.nii``/``.nii.gz`` paths is
        the images) or a registered fetcher's name.
    datasetdir : str, optional
        Where the data set's files are (or are prepared): the fetcher's folder.
    output : str, default "runs/cvae"
        The run folder: checkpoints, histories, samples and ``run.json``.
    epochs : int, default 20
        Training epochs.
    batch_size : int, default 64
        Images per training batch.
    learning_rate : float, optional
        The optimizer's learning rate (default: the recipe's).
    optimizer : str, default "Adam"
        A :mod:`torch.optim` optimizer's name.
    lr_schedule : {"constant", "cosine"}, default "constant"
        The learning rate over the epochs: constant, or a cosine from
        ``learning_rate`` down to 0 at the last epoch.
    folds : int, default 10
        Cross-validation folds of the training split; fold 0 is trained.
    sample_size : float, optional
        The fraction of the data used, in (0, 1] (default: 1 for the digits, 0.5
        otherwise, as in the tutorial).
    seed : int, default 42
        Seeds Python, NumPy and torch, the splits and the shuffling.
    resume : bool, default False
        Continue from the last good checkpoint in ``output`` (a fresh start when
        there is none): the run ends as an uninterrupted one; refused if a setting
        other than the epochs, devices or display changed.
    overwrite : bool, default False
        Replace the run ``output`` holds (its files are removed first).
    keep_last : int, default 3
        Keep the N latest checkpoints, and the one of lowest validation loss (0:
        every checkpoint).
    early_stopping : int, optional
        Stop after this many epochs without a lower validation loss (needs
        ``folds`` >= 2).
    quiet : bool, default False
        Print only the summary (no progress bar).
    threads : int, optional
        torch threads (default: torch's choice).
    device : str, default "cpu"
        ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``.
    logger : list of str, default []
        Track the run in ``tensorboard`` (event files in ``output/tensorboard``) or
        ``mlflow`` (a local store in ``output/mlruns``), or both: repeat the flag
        (``--logger tensorboard --logger mlflow``). Needs the extra of the same name.
    mlflow_uri : str, optional
        Where ``--logger mlflow`` tracks the run: an MLflow tracking URI, such as a
        server's ``http://host:5000`` or a ``sqlite:///path.db`` store (default: the
        ``MLFLOW_TRACKING_URI`` environment variable, else the local store in
        ``output/mlruns``). Credentials go in ``MLFLOW_TRACKING_USERNAME`` and
        ``MLFLOW_TRACKING_PASSWORD``, not in the URI (it is saved in ``run.json``).
    mlflow_experiment : str, optional
        The MLflow experiment of the run, created when missing (default: the
        ``MLFLOW_EXPERIMENT_NAME`` environment variable, else ``pynet-cvae``).
    board : bool, default False
        Show the curves, reconstructions, samples and settings on a Visdom board
        (and record them in ``output/board.jsonl``).
    env : str, default "cvae"
        The Visdom environment.
    port : int, default 8097
        The Visdom port.
    host : str, default "http://localhost"
        The Visdom server URL.
    allow_remote : bool, default False
        Allow a Visdom server that is not on this machine.
    login : bool, default False
        Use Visdom's login, with the credentials of the ``VISDOM_USERNAME`` and
        ``VISDOM_PASSWORD`` environment variables.
    """

    recipe: str = "conditional"
    network: Optional[str] = None
    dataset: str = "digits"
    datasetdir: Optional[str] = None
    output: str = "runs/cvae"
    epochs: int = 20
    batch_size: int = 64
    learning_rate: Optional[float] = None
    optimizer: str = "Adam"
    lr_schedule: Literal["constant", "cosine"] = "constant"
    folds: int = 10
    sample_size: Optional[float] = None
    seed: int = 42
    resume: bool = False
    overwrite: bool = False
    keep_last: int = 3
    early_stopping: Optional[int] = None
    quiet: bool = False
    threads: Optional[int] = None
    device: str = "cpu"
    logger: List[str] = field(default_factory=list)
    mlflow_uri: Optional[str] = None
    mlflow_experiment: Optional[str] = None
    board: bool = False
    env: str = "cvae"
    port: int = 8097
    host: str = "http://localhost"
    allow_remote: bool = False
    login: bool = False

    def check(self) -> None:
        """Refuse values out of range, naming the option and the value."""
        for name in ("epochs", "batch_size", "folds"):
            _check_positive(name, getattr(self, name))
        if self.threads is not None:
            _check_positive("threads", self.threads)
        if self.keep_last < 0:
            raise ValueError(f"--keep-last: expected an integer >= 0, got {self.keep_last}")
        if self.early_stopping is not None:
            _check_positive("early_stopping", self.early_stopping)
            if self.folds < 2:
                raise ValueError("--early-stopping watches the validation loss: it needs "
                                 "--folds 2 or more (--folds 1 trains on every image, "
                                 "without validation)")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"--seed: expected an integer in [0, {MAX_SEED}], got "
                             f"{self.seed}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(f"--learning_rate: expected a number > 0, got "
                             f"{self.learning_rate}")
        if self.sample_size is not None and not 0 < self.sample_size <= 1:
            raise ValueError(f"--sample_size: expected a fraction in (0, 1], got "
                             f"{self.sample_size}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"--port: expected a port in [1, 65535], got {self.port}")
        from .tracking import check_logger_names, check_mlflow_settings

        check_logger_names(self.logger)
        check_mlflow_settings(self.logger, self.mlflow_uri, self.mlflow_experiment)
        from ..registry import Fetchers

        if self.dataset.lower().endswith(".tsv"):
            return
        if self.dataset not in DATASETS and not Fetchers.contains(self.dataset):
            raise ValueError(f"--dataset {self.dataset!r} is neither one of "
                             f"{sorted(DATASETS)}, a participants table (.tsv) nor a "
                             f"registered fetcher ({sorted(Fetchers.get_registry())})")


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"--{name}: expected an integer >= 1, got {value}")


# ---------------------------------------------------------------------- the parser
def _parser_class() -> type:
    from jsonargparse import ArgumentParser

    class TrainParser(ArgumentParser):
        """A jsonargparse parser whose errors are one line."""

        def error(self, message: str, *args: Any, **kwargs: Any) -> NoReturn:
            self.exit(2, f"{PROG}: error: {_one_line(str(message))} (see {PROG} --help)\n")

    return TrainParser


_TYPE_NAMES = {"int": "an integer", "float": "a finite number", "bool": "true or false",
               "str": "a string"}


def _one_line(message: str) -> str:
    """jsonargparse's message in one line: a value of the wrong type as ``--key:
    expected a <type>, got <value>``."""
    key = re.search(r'Parser key "([^"]+)"', message)
    given = re.search(r"(?:Given value|Got value): (.*)", message)
    expected = re.search(r"Expected a <class '(\w+)'>|Expected a (typing\.Literal\[.*?\])"
                         r"|Expected a (\S+)", message)
    if key and given and expected:
        wanted = next(group for group in expected.groups() if group)
        wanted = re.sub(r"^typing\.Literal\[(.*)\]$", r"one of \1", wanted).rstrip(".")
        wanted = _TYPE_NAMES.get(wanted, wanted)
        return f"--{key.group(1)}: expected {wanted}, got {given.group(1).strip()}"
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def build_train_parser(recipe: str = "conditional", network: Optional[str] = None) -> Any:
    """The parser of ``pynet-cvae train`` for one recipe and network.

    Parameters
    ----------
    recipe : str, default "conditional"
        The registered recipe whose options and defaults the parser carries.
    network : str, optional
        The registered network whose fields are the ``--model.*`` flags (default:
        the recipe's).

    Returns
    -------
    jsonargparse.ArgumentParser
    """
    from jsonargparse import ActionConfigFile

    from ..recipes import network_config_class
    from ..registry import Networks, Recipes

    if not Recipes.contains(recipe):
        raise ValueError(f"--recipe {recipe!r} is not a registered recipe: expected one of "
                         f"{sorted(Recipes.get_registry())}")
    chosen = Recipes.get(recipe)()
    network = network or chosen.network
    if not network:
        raise ValueError(f"recipe {recipe!r} trains any registered network: name it with "
                         f"--network (one of {sorted(Networks.get_registry())})")
    if not Networks.contains(network):
        raise ValueError(f"--network {network!r} is not a registered network: expected one "
                         f"of {sorted(Networks.get_registry())}")
    parser = _parser_class()(
        prog=PROG, print_config="--print_config", env_prefix=False, default_env=False,
        description=f"Train with the {recipe!r} recipe"
                    + (f" ({chosen.description})" if chosen.description else "")
                    + " and write checkpoints, histories, sample grids and the run's "
                      "configuration (run.json) to --output.")
    parser.add_argument("--config", action=ActionConfigFile,
                        help="a YAML or JSON configuration file (flags override it)")
    parser.add_class_arguments(TrainSettings, None, as_group=True)
    if chosen.options_class is not None:
        _check_no_clash(chosen.options_class, recipe)
        parser.add_class_arguments(chosen.options_class, None, as_group=True)
    config_class = network_config_class(network)
    skipped = set(chosen.derived)
    if config_class is not None:
        parser.add_class_arguments(config_class, "model", skip=skipped,
                                   instantiate=False, sub_configs=True)
    else:
        parser.add_class_arguments(Networks.get(network), "model", skip=skipped,
                                   instantiate=False, sub_configs=True)
    parser.set_defaults({"recipe": recipe, "network": network,
                         **_known_defaults(parser, chosen.defaults)})
    for action in parser._actions:  # the docstrings' markup, as plain text
        if getattr(action, "_typehint", None) == List[str]:
            action.metavar = "NAME"
        if isinstance(action.help, str):
            action.help = re.sub(r":\w+:`~?([^`]+)`", r"\1", action.help).replace("``", "")
    return parser


def _check_no_clash(options_class: type, recipe: str) -> None:
    common = {item.name for item in dataclasses.fields(TrainSettings)}
    clash = sorted(common & {item.name for item in dataclasses.fields(options_class)})
    if clash:
        raise ValueError(f"recipe {recipe!r} has options named like common settings: "
                         f"{clash}; rename them")


def _known_defaults(parser: Any, defaults: Dict[str, Any]) -> Dict[str, Any]:
    """The recipe's defaults for the keys the parser has (a field of another network
    than the recipe's is left out)."""
    keys = {action.dest for action in parser._actions}
    return {key: value for key, value in defaults.items() if key in keys}


# ---------------------------------------------------------------------- arguments
def normalise_arguments(argv: Sequence[str], boolean_options: Sequence[str] = (),
                        list_options: Sequence[str] = ()) -> List[str]:
    """Command-line arguments as the parser reads them.

    Option names take underscores for dashes, ``--config FILE`` pairs move to the
    front (so flags override the files), a boolean flag alone gets ``true``, and the
    values of a repeated list option make one list (``--logger a --logger b`` is
    ``--logger [a, b]``, which replaces a file's list).

    Parameters
    ----------
    argv : sequence of str
        The arguments after ``train``.
    boolean_options : sequence of str
        The boolean options' names (``--quiet``...).
    list_options : sequence of str
        The names of the options whose value is a list of strings (``--logger``).

    Returns
    -------
    list of str
    """
    tokens = [_normal_option(token) for token in argv]
    booleans, lists = set(boolean_options), set(list_options)
    configs: List[str] = []
    rest: List[str] = []
    gathered: Dict[str, List[str]] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token == "--config" and following is not None:
            configs += [token, following]
            index += 2
            continue
        name, equal, value = token.partition("=")
        if name in lists and (equal or following is not None):
            item = value if equal else following
            if not item.lstrip().startswith("["):  # one item: gathered into a list
                if name not in gathered:
                    rest.append(name)  # where the list goes
                gathered.setdefault(name, []).append(item)
                index += 1 if equal else 2
                continue
        if token.startswith("--config="):
            configs.append(token)
        else:
            rest.append(token)
            if token in booleans and (following is None or following.lower() not in
                                      ("true", "false", "yes", "no", "1", "0")):
                rest.append("true")
        index += 1
    rest = [item for token in rest for item in (
        [token, "[" + ", ".join(gathered[token]) + "]"] if token in gathered else [token])]
    return configs + rest


def _normal_option(token: str) -> str:
    if not token.startswith("--") or token == "--":
        return token
    name, equal, value = token.partition("=")
    return name.replace("-", "_").replace("__", "--", 1) + equal + value


def _chosen(argv: Sequence[str], key: str) -> Optional[str]:
    """The value of ``--key`` on the line, else in the last ``--config`` file naming
    it, else None."""
    value = None
    for index, token in enumerate(argv):
        if token == "--config" and index + 1 < len(argv):
            value = _from_file(argv[index + 1], key) or value
        elif token.startswith("--config="):
            value = _from_file(token.partition("=")[2], key) or value
    for index, token in enumerate(argv):
        if token == f"--{key}" and index + 1 < len(argv):
            value = argv[index + 1]
        elif token.startswith(f"--{key}="):
            value = token.partition("=")[2]
    return value


def _from_file(path: str, key: str) -> Optional[str]:
    import yaml

    try:
        with open(path, encoding="utf-8") as stream:
            content = yaml.safe_load(stream)
    except OSError as error:
        raise ValueError(f"--config {path!r}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise ValueError(f"--config {path!r} is not YAML or JSON: "
                         f"{str(error).splitlines()[0]}") from None
    if not isinstance(content, dict):
        raise ValueError(f"--config {path!r} must hold a mapping of settings, got "
                         f"{type(content).__name__}")
    value = content.get(key)
    return None if value is None else str(value)


def _boolean_options(parser: Any) -> List[str]:
    return [option for action in parser._actions
            if getattr(action, "_typehint", None) in (bool, Optional[bool])
            for option in action.option_strings]


def _list_options(parser: Any) -> List[str]:
    return [option for action in parser._actions
            if getattr(action, "_typehint", None) == List[str]
            for option in action.option_strings if not option.endswith("+")]


def parse_train_arguments(argv: Sequence[str]) -> Tuple[Any, Any]:
    """Parse ``pynet-cvae train``'s arguments.

    Parameters
    ----------
    argv : sequence of str
        The arguments after ``train``.

    Returns
    -------
    parser, namespace
        The parser built for the chosen recipe and network, and the parsed
        configuration (a jsonargparse Namespace).
    """
    from ..registry import Recipes

    tokens = [_normal_option(token) for token in argv]
    recipe = _chosen(tokens, "recipe") or TrainSettings.recipe
    network = _chosen(tokens, "network")
    parser = build_train_parser(recipe, network)
    namespace = parser.parse_args(normalise_arguments(argv, _boolean_options(parser),
                                                      _list_options(parser)))
    try:
        settings = settings_of(namespace)
        options_of(namespace, Recipes.get(recipe).options_class)
        check_model_fields(settings.network, model_fields_of(namespace))
    except ValueError as error:
        parser.error(str(error))
    return parser, namespace


def check_model_fields(network: str, fields: Dict[str, Any]) -> None:
    """Check the ``--model.*`` values of a zoo model against its config dataclass
    (the fields the recipe derives from the data keep their defaults meanwhile).

    Raises
    ------
    ValueError
        Naming the option, e.g. ``--model.kl_weight must be a finite number >= 0``.
    """
    from ..recipes import network_config_class

    config_class = network_config_class(network)
    if config_class is None:
        return
    names = {item.name for item in dataclasses.fields(config_class)}
    try:
        config_class(**{name: value for name, value in fields.items() if name in names})
    except ValueError as error:
        message = str(error)
        field = message.split(" ", 1)[0]
        raise ValueError(f"--model.{message}" if field in names else message) from None


def settings_of(namespace: Any) -> TrainSettings:
    """The common settings of a parsed configuration, checked."""
    names = [item.name for item in dataclasses.fields(TrainSettings)]
    settings = TrainSettings(**{name: namespace[name] for name in names})
    settings.check()
    return settings


def options_of(namespace: Any, options_class: Optional[type]) -> Any:
    """The recipe's options of a parsed configuration (None without options)."""
    if options_class is None:
        return None
    values = {}
    for item in dataclasses.fields(options_class):
        value = namespace[item.name]
        values[item.name] = _plain(value)
    options = options_class(**values)
    check = getattr(options, "check", None)
    if callable(check):
        check()
    return options


def _plain(value: Any) -> Any:
    """jsonargparse Namespaces (nested dataclass values) as dicts."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def model_fields_of(namespace: Any) -> Dict[str, Any]:
    """The ``--model.*`` fields of a parsed configuration, as a plain dict."""
    model = namespace.get("model")
    return {} if model is None else dict(_plain(model))


def configuration_dict(parser: Any, namespace: Any) -> Dict[str, Any]:
    """The parsed configuration as JSON values (what ``--print_config`` prints)."""
    import yaml

    content = yaml.safe_load(parser.dump(namespace, skip_unset=False))
    content.pop("config", None)
    return content
