"""Build a RecBole ``Config`` for one of our models or a stock RecBole model.

The configuration is stacked, later layers overriding earlier ones:

1. RecBole's internal defaults (``overall.yaml``; for a stock model also its own model YAML);
2. ``recbole_ext/properties/overall.yaml``: the project's protocol (leave-one-out, full ranking,
   Hit/NDCG@5/10/20, validation on NDCG@10, timestamps loaded);
3. for our models: the stock parent's model YAML (e.g. RecBole's ``SASRec.yaml``), then ours
   (``recbole_ext/properties/<Model>.yaml``). RecBole itself would give a subclass with a new name
   none of its parent's defaults;
4. the dataset's YAML, ``configs/datasets/<dataset>.yaml``, when there is one;
5. the user's ``config_files``, in order;
6. ``overrides`` (a dict, e.g. from ``--key=value`` on the command line).

``sys.argv`` never reaches RecBole's ``Config`` (it would read any ``--key=value`` there, pytest's
options included). Datasets are looked up before anything is loaded, so a missing dataset is a
clear error and never one of RecBole's download attempts.
"""

from __future__ import annotations

import contextlib
import difflib
import numbers
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from recbole_ext import compat  # noqa: F401  (before recbole is used)

import recbole
import yaml
from recbole.config import Config
from recbole.utils import ModelType

from recbole_ext.data.converters import DEFAULT_NAMES as CONVERTER_NAMES
from recbole_ext.data.converters import SOURCES as CONVERTER_SOURCES
from recbole_ext import checks, precision
from recbole_ext.torchrun import gpu_of_this_rank, launched
from recbole_ext.errors import ConfigError, UnknownDatasetError
from recbole_ext.models import is_stock, resolve_model

PACKAGE_DIR = Path(__file__).resolve().parent
PROPERTIES_DIR = PACKAGE_DIR / "properties"
CONFIGS_DIR = PACKAGE_DIR / "configs"  # the presets, shipped as package data
SEARCH_SPACES_DIR = CONFIGS_DIR / "tune"
# Converted datasets live in ./atomic_data of the working directory unless data_path says otherwise.
DEFAULT_DATA_PATH = Path("atomic_data")
RECBOLE_DIR = Path(recbole.__file__).resolve().parent
RECBOLE_MODEL_PROPERTIES = RECBOLE_DIR / "properties" / "model"
# Datasets RecBole always loads from its own wheel, whatever data_path says.
BUNDLED_DATASETS = {"ml-100k": RECBOLE_DIR / "dataset_example" / "ml-100k"}


def build_config(
    model: str | type,
    dataset: str,
    config_files: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Return RecBole's ``Config`` for ``model`` (a name or one of our classes) on ``dataset``."""
    model_class = resolve_model(model) if isinstance(model, str) else model
    config_files = list(config_files)
    config_dict = stacked_config_dict(model_class, dataset, config_files, overrides)
    user_keys = {key: f"in {path}" for path in config_files for key in read_yaml(resolve_config_file(path))}
    user_keys.update({key: f"--{key}" for key in overrides or {}})
    checks.check_user_keys(user_keys)
    with command_line_hidden():
        try:
            config = Config(model=model_class, dataset=dataset, config_dict=config_dict)
        except (NameError, SyntaxError, TypeError, ValueError, NotImplementedError, RuntimeError) as error:
            raise checks.reworded_recbole_error(error) from None  # RecBole eval()s values, checks metrics
    checks.check_device(config, user_keys)
    config["precision"] = precision.resolve(config["precision"], config["device"])  # auto: bf16 where native
    check_dataset(config)
    check_override_types(config, config_dict, overrides or {})
    if not is_stock(model_class):
        check_required_keys(config, model_class)
    layer_keys = {key for path in [*model_yaml_files(model_class), *dataset_yaml_files(dataset)]
                  for key in read_yaml(path)}
    checks.check_known_keys(config, model_class, layer_keys, user_keys)
    checks.check_values(config, model_class)
    if dataset not in BUNDLED_DATASETS:
        checks.check_atomic_files(config, Path(config["data_path"]), config["MODEL_TYPE"] == ModelType.SEQUENTIAL)
    return config


@contextlib.contextmanager
def command_line_hidden():
    """RecBole's ``Config`` reads ``--key=value`` from ``sys.argv``: hide this process's own flags from it."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


def stacked_config_dict(
    model_class: type,
    dataset: str,
    config_files: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Layers 2-6 of the module docstring merged into one dict (RecBole adds layer 1)."""
    merged: dict[str, Any] = {}
    for path in [*model_yaml_files(model_class), *dataset_yaml_files(dataset)]:
        merged.update(read_yaml(path))
    users: dict[str, Any] = {}
    for path in config_files:
        users.update(read_yaml(resolve_config_file(path)))
    users.update(overrides or {})
    merged.update(users)
    merged.setdefault("data_path", str(DEFAULT_DATA_PATH))
    if launched() and str(merged.get("gpu_id", "0")).strip():
        # under torchrun each rank sees one GPU, its LOCAL_RANK-th (RecBole sets CUDA_VISIBLE_DEVICES)
        merged["gpu_id"] = gpu_of_this_rank()
    if merged.get("loss_type") == "CE" and "train_neg_sample_args" not in users:
        # CE samples no negatives (a default set for BCE does not carry over), and RecBole 1.2.1
        # refuses CE with its own default negative sampling unless told "None".
        merged["train_neg_sample_args"] = None
    # Runs execute inside their own output directory: make the data location absolute first.
    if merged["data_path"] in (None, ""):
        where = "--data_path" if "data_path" in (overrides or {}) else "a config file"
        raise ConfigError(f"data_path is empty ({where} sets it to ~): give the folder that holds "
                          f"NAME/NAME.inter, e.g. data_path: {DEFAULT_DATA_PATH}, or leave the key out for that default.")
    data_path = Path(str(merged["data_path"])).expanduser().resolve()
    if data_path.is_file():
        raise ConfigError(f"data_path '{data_path}' is a file: give the folder that holds NAME/NAME.inter "
                          f"(for {data_path.parent / dataset / (dataset + '.inter')}: --data_path={data_path.parent}).")
    merged["data_path"] = str(data_path)
    return merged


def model_yaml_files(model_class: type) -> list[Path]:
    """The project's overall YAML, then each class's YAML from the stock parent down to the model.

    A stock class's YAML is RecBole's (``recbole/properties/model/``); any other class's is ours
    (``recbole_ext/properties/``). Subclasses of our models inherit our defaults the same way.
    """
    files = [PROPERTIES_DIR / "overall.yaml"]
    for cls in reversed(model_class.__mro__):
        directory = RECBOLE_MODEL_PROPERTIES if is_stock(cls) else PROPERTIES_DIR
        if (directory / f"{cls.__name__}.yaml").is_file():
            files.append(directory / f"{cls.__name__}.yaml")
    return files


def resolve_config_file(name_or_path: str | Path) -> Path:
    """A config file given as a path, or by the name of a preset in ``recbole_ext/configs``."""
    return _resolve_shipped(name_or_path, CONFIGS_DIR, ".yaml", "Config file", "--config_files")


def resolve_search_space(name_or_path: str | Path) -> Path:
    """A search-space file given as a path, or by name in ``recbole_ext/configs/tune`` (``SASRec``)."""
    return _resolve_shipped(name_or_path, SEARCH_SPACES_DIR, ".hyper", "Search-space file", "--tune")


def _resolve_shipped(name_or_path: str | Path, directory: Path, suffix: str, what: str, flag: str) -> Path:
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    not_a_file = path_problem(path)
    if not_a_file:
        raise ConfigError(f"{what} '{name_or_path}' (given in {flag}) {not_a_file}: give a YAML file.")
    name = path.name if path.name.endswith(suffix) else path.name + suffix
    if len(path.parts) == 1 and (directory / name).is_file():
        return directory / name
    shipped = sorted(p.stem for p in directory.glob(f"*{suffix}"))
    close = difflib.get_close_matches(path.stem, shipped, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(
        f"{what} '{name_or_path}' (given in {flag}) is neither a file nor a shipped preset.{hint} "
        f"Shipped: {', '.join(shipped)}."
    )


def path_problem(path: Path) -> str | None:
    """Why an existing ``path`` is not a readable file ("is a directory", ...); None if it does not exist."""
    try:
        path.stat()
    except FileNotFoundError:
        return "is a symbolic link to a missing file" if path.is_symlink() else None
    except OSError as error:  # ELOOP, EACCES ...
        return "is a symbolic link loop" if error.errno == 40 else f"cannot be read ({error.strerror})"
    if path.is_dir():
        return "is a directory"
    return None if path.is_file() else "is not a regular file"


def dataset_yaml_files(dataset: str) -> list[Path]:
    path = CONFIGS_DIR / "datasets" / f"{dataset}.yaml"
    return [path] if path.is_file() else []


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML file the way RecBole does (``1e-4`` is a float, not a string)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Config file '{path}' cannot be read ({error}): give a UTF-8 YAML file.") from None
    try:
        loaded = yaml.load(text, Loader=recbole_yaml_loader())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem}): write one 'key: value' per line.") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}:1:1: a config file holds 'key: value' lines (a mapping), "
                          f"not a {type(loaded).__name__}.")
    return loaded


def recbole_yaml_loader():
    """RecBole's YAML loader (it adds a float resolver for ``1e-4``-style numbers) that also refuses
    a key given twice in one mapping (YAML would silently keep the last)."""
    base = Config._build_yaml_loader(None)

    class NoDuplicateKeysLoader(base):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        problem=f"the key '{key}' is given twice; YAML would keep the last silently",
                        problem_mark=key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)
    return NoDuplicateKeysLoader


def available_datasets(data_path: str | Path = DEFAULT_DATA_PATH) -> list[str]:
    """Bundled datasets plus every ``data_path/NAME/NAME.inter``."""
    found = set(BUNDLED_DATASETS)
    data_path = Path(data_path)
    if data_path.is_dir():
        found |= {d.name for d in data_path.iterdir() if (d / f"{d.name}.inter").is_file()}
    return sorted(found)


def check_dataset(config: Config) -> None:
    """Fail with the close matches and the converter to run when the dataset's files are missing."""
    dataset = config["dataset"]
    if dataset in BUNDLED_DATASETS:
        return
    dataset_dir = Path(config["data_path"])  # RecBole has joined data_path and the dataset name
    inter = dataset_dir / f"{dataset}.inter"
    if inter.is_file():
        return
    if path_problem(inter):
        raise UnknownDatasetError(f"Dataset '{dataset}': '{inter}' {path_problem(inter)}: it must be the "
                                  "dataset's atomic file (tab-separated text).")
    if dataset in CONVERTER_SOURCES:  # RecBole's download names: this project converts instead
        name = CONVERTER_NAMES[dataset].replace("<schema>", "reviews")
        raise UnknownDatasetError(
            f"Dataset '{dataset}' is a name RecBole would try to download; recbole-ext never downloads. "
            f"Convert your copy of the raw files, then use the converted name: "
            f"'python -m recbole_ext.convert {dataset} --input PATH --output-dir {dataset_dir.parent}' "
            f"writes {dataset_dir.parent / name}, run with --dataset {name}."
        )
    known = available_datasets(dataset_dir.parent)
    close = difflib.get_close_matches(dataset, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownDatasetError(
        f"Unknown dataset '{dataset}': no {dataset_dir / (dataset + '.inter')}.{hint} "
        f"Available: {', '.join(known)}. To add one, convert the raw files, e.g. "
        f"'python -m recbole_ext.convert ml-1m --input PATH/ml-1m --output-dir {dataset_dir.parent}', "
        "or point --data_path=DIR at a folder holding DIR/NAME/NAME.inter."
    )


def check_override_types(config: Config, config_dict: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """An override whose default is a number or a bool must resolve to one (``--epochs=abc`` would
    otherwise fail deep inside RecBole's trainer with a ``TypeError``)."""
    defaults = {**config.internal_config_dict, **{k: v for k, v in config_dict.items() if k not in overrides}}
    for key in overrides:
        default, value = defaults.get(key), config[key]
        if isinstance(default, bool) and not isinstance(value, bool):
            expected = "True or False"
        elif isinstance(default, numbers.Real) and not isinstance(default, bool) and (
            isinstance(value, bool) or not isinstance(value, numbers.Real)
        ):
            expected = "a number"
        else:
            continue
        raise ConfigError(
            f"--{key}={overrides[key]}: {key} takes {expected} (default {default!r}); "
            f"got {value!r}, e.g. --{key}={default!r}."
        )


def check_required_keys(config: Config, model_class: type) -> None:
    """Every key our model's stacked YAMLs give a value must still have one (RecBole returns None)."""
    documented: dict[str, Any] = {}
    for path in model_yaml_files(model_class)[1:]:
        documented.update(read_yaml(path))
    missing = [key for key, default in documented.items() if default is not None and config[key] is None]
    if missing:
        raise ConfigError(
            f"{model_class.__name__} needs a value for {', '.join(missing)} "
            f"(set to None or removed); give one with --key=value or in a config file."
        )
