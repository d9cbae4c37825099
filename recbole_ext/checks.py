"""Everything a user hands us is checked here, before any data loads; each problem is one line
naming the key, file or dataset, what is wrong and what to do (a :class:`RecboleExtError`).

- :func:`check_known_keys`: a key no layer of the configuration knows (RecBole's defaults, the
  model's YAML, ours, the dataset's, or a key RecBole's or our code reads) is refused with close
  matches. Keys of your own model: list them under ``custom_keys`` (``--custom_keys="[my_key]"`` or
  ``custom_keys: [my_key]`` in a config file).
- :func:`check_values`: every key with a fixed set of values or a range.
- :func:`check_atomic_files`: the header and a bounded sample of lines of each atomic file the run
  reads, and the columns the model needs (a sequential model needs the time field).
- :func:`check_trainable`: after the dataset is built, before it is split: users too short for
  leave-one-out (reported; refused when none would remain) and users who saw every item (no
  negative can be drawn for them; refused with what to change).
"""

from __future__ import annotations

import csv
import difflib
import inspect
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from recbole.utils import ModelType

from recbole_ext import protocols
from recbole_ext.data.sampling import NegativeArgs
from recbole_ext.errors import ConfigError, DataError
from recbole_ext.protocols import PROTOCOLS
from recbole_ext.data.splits import SPLIT_PROTOCOLS
from recbole_ext.precision import PRECISIONS, unsupported

# ------------------------------------------------------------------------------------ known keys
# Our own keys outside any model YAML (the pipeline's); RecBole's are read from its YAML and code.
PIPELINE_KEYS = {"custom_keys", "max_train_seconds", "torch_threads", "ranking_protocol", "ranking_neg_num", "precision"}
# Keys RecBole builds from a name at run time (config[f"alias_of_{name}"], config[f"{phase}_neg_sample_args"]).
RECBOLE_DYNAMIC_KEYS = {"alias_of_user_id", "alias_of_item_id", "alias_of_entity_id", "alias_of_relation_id",
                        "valid_neg_sample_args", "test_neg_sample_args"}
# config["key"], final_config_dict["key"], ..._dict.get("key"): the ways RecBole and we read a key.
_CONFIG_READ = re.compile(r"""(?:config|_dict)\[\s*["'](\w+)["']\s*\]|_dict\.get\(\s*["'](\w+)["']""")


@lru_cache(maxsize=None)
def _keys_read_by(path: str) -> frozenset[str]:
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return frozenset(key for match in _CONFIG_READ.findall(text) for key in match if key)


@lru_cache(maxsize=None)
def recbole_framework_keys() -> frozenset[str]:
    """Keys RecBole's framework code reads (config, data, samplers, trainers, evaluators, utils):
    ``config["key"]`` anywhere in recbole outside ``recbole/model`` and ``recbole/quick_start``."""
    import recbole

    root = Path(recbole.__file__).resolve().parent
    keys: set[str] = set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts
        if parts[0] not in ("model", "quick_start"):
            keys |= _keys_read_by(str(path))
    return frozenset(keys)


def model_keys(model_class: type) -> set[str]:
    """Keys the model's classes read (``config["key"]`` in the source of each class of its MRO)."""
    keys: set[str] = set()
    for cls in model_class.__mro__:
        try:
            source = inspect.getsourcefile(cls)
        except TypeError:  # builtins (object, nn.Module's C parts)
            continue
        if source and ("recbole" in source or "recbole_ext" in source):
            keys |= _keys_read_by(source)
    return keys


def check_known_keys(
    config: Any, model_class: type, layer_keys: Iterable[str], user_keys: Mapping[str, str]
) -> None:
    """Refuse a key the user gave (``user_keys``: key -> where it was given) that nothing knows."""
    known = (set(config.internal_config_dict) | set(layer_keys) | PIPELINE_KEYS | RECBOLE_DYNAMIC_KEYS
             | recbole_framework_keys()
             | model_keys(model_class) | set(config["custom_keys"] or []))
    for key, where in user_keys.items():
        if key in known:
            continue
        close = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.75)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ConfigError(
            f"Unknown configuration key '{key}' ({where}): no layer of {model_class.__name__}'s configuration "
            f"knows it.{hint} For a key of your own model, add it to custom_keys (e.g. --custom_keys=\"['{key}']\")."
        )


# ------------------------------------------------------------------ keys that cannot take effect
# RecBole < 1.1 keys that 1.2.1 still lets through but never reads: each with what replaced it.
DEPRECATED_KEYS = {
    "neg_sampling": "train_neg_sample_args (e.g. {distribution: uniform, sample_num: 1})",
    "training_neg_sample_num": "train_neg_sample_args sample_num",
    "training_neg_sample_distribution": "train_neg_sample_args distribution",
    "eval_setting": "eval_args (split, order, group_by, mode)",
    "split_ratio": "eval_args split: {RS: [0.8, 0.1, 0.1]}",
    "leave_one_num": "eval_args split: {LS: valid_and_test}",
    "group_by_user": "eval_args group_by: user",
    "real_time_process": "nothing (RecBole 1.x always builds batches on the fly)",
}
# Keys every run sets itself: a value given by the user would be silently replaced.
OVERRIDDEN_KEYS = {
    "checkpoint_dir": "each run keeps its checkpoints in <output_dir>/checkpoint: choose where with --output_dir",
    "local_rank": "it is set per process by distributed training",
}


def check_user_keys(user_keys: Mapping[str, str]) -> None:
    """Refuse keys the user gave (key -> where) that cannot take effect: deprecated or overridden."""
    for key, where in user_keys.items():
        if key in DEPRECATED_KEYS:
            raise ConfigError(f"'{key}' ({where}) is a RecBole 0.x key that RecBole 1.2.1 ignores: use "
                              f"{DEPRECATED_KEYS[key]} instead.")
        if key in OVERRIDDEN_KEYS:
            raise ConfigError(f"'{key}' ({where}) cannot be set: {OVERRIDDEN_KEYS[key]}.")


def check_device(config: Any, user_keys: Mapping[str, str]) -> None:
    """Refuse ``device`` / ``gpu_id`` naming a GPU this machine lacks; keep a ``device`` the user chose."""
    import torch

    device_given = next((key for key in ("device", "gpu_id") if key in user_keys), None)
    if device_given is None:
        return
    value = str(config.variable_config_dict.get(device_given, config.final_config_dict.get(device_given)))
    wants_gpu = value.strip() != "" if device_given == "gpu_id" else value.startswith("cuda")
    if device_given == "device" and not (value == "cpu" or value.startswith("cuda")):
        raise ConfigError(f"device={value!r} ({user_keys[device_given]}) is not a device: use cpu or cuda.")
    if wants_gpu and not torch.cuda.is_available():
        raise ConfigError(f"{device_given}={value!r} ({user_keys[device_given]}) asks for a GPU, but torch sees none on "
                          "this machine: drop it to train on the CPU (or install a CUDA build of torch).")
    if device_given == "device":
        config["device"] = torch.device(value)  # RecBole would replace it with cuda whenever one is visible


_RECBOLE_ERRORS = [  # (RecBole's message, ours)
    (re.compile(r"There is no metric named '(.+)'"),
     lambda m: f"metrics: there is no metric named '{m.group(1)}': use RecBole's names, e.g. Hit, NDCG, MRR, "
               "Recall, Precision, MAP (ranking) or RMSE, MAE, AUC, LogLoss (value)."),
    (re.compile(r"Ranking metrics and value metrics can not be used at the same time"),
     lambda m: "metrics mixes ranking metrics (Hit, NDCG, ...) and value metrics (RMSE, AUC, ...): a run "
               "evaluates one kind; keep one kind in --metrics."),
]


def reworded_recbole_error(error: Exception) -> ConfigError:
    """RecBole's own configuration errors as one line that says what to change."""
    text = str(error)
    for pattern, ours in _RECBOLE_ERRORS:
        match = pattern.search(text)
        if match:
            return ConfigError(ours(match))
    return ConfigError(f"RecBole cannot build the configuration: {text}. Check the values given in --config_files "
                       "and --key=value.")


# ---------------------------------------------------------------------------------------- values
Check = Callable[[Any], bool]


def _int(low: int) -> tuple[Check, str]:
    return (lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low,
            f"an integer >= {low}")


def _real(low: float, high: float | None = None, low_open: bool = False, high_open: bool = True) -> tuple[Check, str]:
    def check(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v):
            return False
        above = v > low if low_open else v >= low
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    left = "(" if low_open else "["
    right = "inf)" if high is None else (f"{high})" if high_open else f"{high}]")
    return check, f"a number in {left}{low}, {right}"


def _optional(rule: tuple[Check, str]) -> tuple[Check, str]:
    check, text = rule
    return (lambda v: v is None or check(v)), f"{text}, or ~ (none)"


def _parses(parse: Callable[[Any], Any]) -> Check:
    def check(value: Any) -> bool:
        try:
            parse(value)
        except (ValueError, TypeError):
            return False
        return True
    return check


def _choice(*values: str) -> tuple[Check, str]:
    return (lambda v: v in values), "one of " + ", ".join(values)


_BOOL = ((lambda v: isinstance(v, bool)), "True or False")
_INT_LIST = ((lambda v: isinstance(v, (list, tuple)) and len(v) > 0
              and all(isinstance(x, numbers.Integral) and not isinstance(x, bool) and x >= 1 for x in v)),
             "a non-empty list of integers >= 1")
LOG_STATES = ("debug", "info", "warning", "error", "critical")  # the console's log level (state)

# key -> (check, what is allowed); a key absent from the configuration is not checked.
RULES: dict[str, tuple[Check, str]] = {
    "epochs": _int(0), "train_batch_size": _int(1), "eval_batch_size": _int(1), "eval_step": _int(1),
    "stopping_step": _int(1), "MAX_ITEM_LIST_LENGTH": _int(1), "ranking_neg_num": _int(1),
    "n_layers": _int(1), "n_heads": _int(1), "hidden_size": _int(1), "inner_size": _int(1),
    "embedding_size": _int(0), "n_targets": _int(1), "nh": _int(1), "nv": _int(1), "num_layers": _int(1),
    "n_sample": _int(0), "seed": _int(0), "side_embedding_size": _int(1),
    "torch_threads": _optional(_int(1)), "max_score_matrix_mb": _optional(_real(0, low_open=True)),
    "hidden_dropout_prob": _real(0, 1), "attn_dropout_prob": _real(0, 1), "dropout_prob": _real(0, 1),
    "dropout_p_embed": _real(0, 1), "dropout_p_hidden": _real(0, 1), "momentum": _real(0, 1),
    "learning_rate": _real(0, low_open=True), "layer_norm_eps": _real(0, low_open=True),
    "weight_decay": _real(0), "reg_weight": _optional(_real(0)), "bias_reg_weight": _optional(_real(0)),
    "bpreg": _real(0), "logq": _real(0), "sample_alpha": _real(0), "gbce_t": _real(0, 1, high_open=False),
    "init_std": _optional(_real(0)),  # 0: every weight starts at 0 (BiasedMF then predicts the global mean)
    "max_train_seconds": _optional(_real(0)),  # 0: stop after the first validation
    "session_gap_seconds": _optional(_real(0, low_open=True)),
    "show_progress": _BOOL, "embedding_layer_norm": _BOOL, "embedding_scale": _BOOL, "pad_left": _BOOL,
    "constrained_embedding": _BOOL, "horizontal_conv": _BOOL, "vertical_conv": _BOOL,
    "clip_predictions": _BOOL, "reproducibility": _BOOL, "valid_metric_bigger": _BOOL,
    "ranking_protocol": _choice(*PROTOCOLS), "precision": _choice(*PRECISIONS),
    "split_protocol": _choice(*SPLIT_PROTOCOLS), "test_days": _real(0, low_open=True),
    "state": ((lambda v: str(v).lower() in LOG_STATES), "one of " + ", ".join(LOG_STATES)),  # RecBole: any case
    "hidden_act": _choice("relu", "gelu", "swish", "tanh", "sigmoid"),  # RecBole's FeedForward (stock models)
    "learner": _choice("adam", "sgd", "adagrad", "rmsprop", "sparse_adam", "adamw", "adagradm"),
    "layers": _INT_LIST, "topk": _INT_LIST,
}
STOCK_LOSS_TYPES = ("BPR", "CE")  # what RecBole's sequential models accept


def check_values(config: Any, model_class: type) -> None:
    """Every key with a fixed set of values or a range, then the keys that depend on each other."""
    rules = dict(RULES)
    for key, values in getattr(model_class, "value_choices", {}).items():  # the model's own sets
        rules[key] = _choice(*values)
    for key, (parse, forms) in getattr(model_class, "value_parsers", {}).items():
        rules[key] = (_parses(parse), forms)
    for key, (check, allowed) in rules.items():
        if key not in config.final_config_dict:
            continue
        value = config[key]
        if not check(value):
            raise ConfigError(f"{key}={value!r} is not allowed for {model_class.__name__}: {key} takes {allowed}.")
    precision_problem = unsupported(config["precision"] or "fp32", config["device"])
    if precision_problem:
        raise ConfigError(precision_problem)
    loss_types = getattr(model_class, "loss_types", None)
    if loss_types is None and config["MODEL_TYPE"] == ModelType.SEQUENTIAL and "loss_type" in model_keys(model_class):
        loss_types = STOCK_LOSS_TYPES
    if loss_types and config["loss_type"] not in loss_types:
        raise ConfigError(f"loss_type={config['loss_type']!r} is not allowed for {model_class.__name__}: "
                          f"use one of {', '.join(loss_types)}.")
    NegativeArgs.of(config)  # raises for a distribution or sample_num it cannot use
    heads, hidden = config.final_config_dict.get("n_heads"), config.final_config_dict.get("hidden_size")
    if isinstance(heads, int) and isinstance(hidden, int) and heads > 0 and hidden % heads:
        raise ConfigError(f"hidden_size={hidden} is not a multiple of n_heads={heads}: each attention head takes "
                          f"hidden_size / n_heads dimensions (e.g. --n_heads={_divisor_near(hidden, heads)}).")
    _check_eval_args(config["eval_args"] or {})
    protocols.check(config)
    _check_valid_metric(config)


def _divisor_near(number: int, wanted: int) -> int:
    return min((d for d in range(1, number + 1) if number % d == 0), key=lambda d: (abs(d - wanted), d))


def _check_eval_args(eval_args: Mapping[str, Any]) -> None:
    split, order = eval_args.get("split") or {}, eval_args.get("order")
    unknown = [key for key in split if key not in ("RS", "LS")] if isinstance(split, Mapping) else [split]
    if unknown or len(split) != 1:
        raise ConfigError(f"eval_args split={split!r} is not a RecBole split: use {{RS: [0.8, 0.1, 0.1]}} (ratios) or "
                          "{LS: valid_and_test} (leave one out).")
    if order not in (None, "RO", "TO"):
        raise ConfigError(f"eval_args order={order!r} is not allowed: use RO (random) or TO (time order).")
    if eval_args.get("group_by") not in (None, "user", "none"):
        raise ConfigError(f"eval_args group_by={eval_args.get('group_by')!r} is not allowed: use user or none.")


def _check_valid_metric(config: Any) -> None:
    metric = str(config["valid_metric"] or "")
    metrics = [str(m).lower() for m in (config["metrics"] or [])]
    name, _, k = metric.lower().partition("@")
    if name not in metrics:
        raise ConfigError(f"valid_metric={metric!r} is not among metrics {config['metrics']}: "
                          f"use one of them (e.g. valid_metric: {config['metrics'][0]}@{(config['topk'] or [10])[0]}).")
    if k and (not k.isdigit() or int(k) not in (config["topk"] or [])):
        raise ConfigError(f"valid_metric={metric!r}: @{k} is not among topk {config['topk']}: "
                          f"use one of them or add {k} to topk.")


# ---------------------------------------------------------------------------------- atomic files
ATOMIC_TYPES = ("token", "token_seq", "float", "float_seq")
SAMPLE_LINES = 10_000  # lines checked per file (the first ones): large files stay fast
_FIELD_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def check_atomic_files(config: Any, dataset_dir: Path, sequential: bool) -> None:
    """Header and a bounded sample of lines of each atomic file RecBole will read for this run."""
    dataset = config["dataset"]
    load_col = config["load_col"]
    for suffix in ("inter", "user", "item"):
        path = dataset_dir / f"{dataset}.{suffix}"
        if not path.is_file() or (suffix != "inter" and isinstance(load_col, Mapping) and suffix not in load_col):
            continue
        columns = check_atomic_file(path, str(config["field_separator"] or "\t"))
        loaded = load_col.get(suffix) if isinstance(load_col, Mapping) else None
        id_field = {"inter": None, "user": config["USER_ID_FIELD"], "item": config["ITEM_ID_FIELD"]}[suffix]
        needed = [config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]] if suffix == "inter" else [id_field]
        for name in needed:
            if name not in columns:
                raise DataError(f"{path}: no '{name}' column (columns: {', '.join(columns)}): add it, or set "
                                f"{'USER_ID_FIELD' if name == config['USER_ID_FIELD'] else 'ITEM_ID_FIELD'} "
                                "to the file's id column.")
        if suffix == "inter" and sequential:
            time_field = config["TIME_FIELD"]
            if time_field not in columns:
                raise DataError(
                    f"{path}: a sequential model orders each user's items by '{time_field}', which this file lacks "
                    f"(columns: {', '.join(columns)}). Add a '{time_field}:float' column, or set TIME_FIELD to "
                    "the file's time column.")
            if loaded is not None and time_field not in loaded:
                raise DataError(f"load_col drops '{time_field}' from {path.name}, and a sequential model needs it: "
                                f"add it to load_col's inter list (e.g. inter: [user_id, item_id, {time_field}]).")
        for name in loaded or []:
            if name not in columns:
                raise DataError(f"load_col names '{name}', which {path} lacks (columns: {', '.join(columns)}): "
                                "load only the file's columns.")


def check_atomic_file(path: Path, separator: str = "\t") -> dict[str, str]:
    """``{name: type}`` of an atomic file's header, after checking the header and the first
    :data:`SAMPLE_LINES` records; a problem raises :class:`DataError` naming the file and line.

    Records are split as RecBole's reader splits them (pandas' python engine is Python's ``csv``
    module: fields separated by ``separator``, ``"``-quoted fields allowed, as the converters write
    them), with malformed quoting refused instead of guessed at.
    """
    number = 1
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = f.readline()
            if not header.endswith("\n"):
                raise DataError(f"{path}: no line after the header (an empty file or a header only): "
                                "write one row per line below the header.")
            columns = _parse_header(path, header.rstrip("\r\n"), separator)
            reader = csv.reader(f, delimiter=separator, quotechar='"', doublequote=True, strict=True)
            rows = 0
            for record in reader:
                number = reader.line_num + 1
                if not record:
                    continue  # a blank line: pandas skips it too
                _check_record(path, number, record, columns)
                rows += 1
                if rows >= SAMPLE_LINES:
                    break
    except UnicodeDecodeError:
        raise DataError(f"{path}: a line near line {number + 1} is not UTF-8 text: write the file as UTF-8.") from None
    except csv.Error as error:
        raise DataError(f"{path}:{number + 1}: cannot be split into fields ({error}): atomic files hold "
                        "tab-separated fields, a field with a quote written as \"...\" with inner quotes doubled.") from None
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror}): check the path and its permissions.") from None
    if rows == 0:
        raise DataError(f"{path}: no line after the header: write one row per line below the header.")
    return columns


def _parse_header(path: Path, header: str, separator: str) -> dict[str, str]:
    if header.startswith("\ufeff"):
        raise DataError(f"{path}:1: the file starts with a byte-order mark (BOM, which some editors write before "
                        "UTF-8 text): save it as UTF-8 without BOM (e.g. sed -i '1s/^\\xEF\\xBB\\xBF//' FILE).")
    columns: dict[str, str] = {}
    for field in header.split(separator):
        name, colon, kind = field.partition(":")
        if colon and name and not _FIELD_NAME.fullmatch(name):
            raise DataError(f"{path}:1: column name {name!r} has a quote, space or control character: "
                            "use letters, digits, '_', '.' or '-'.")
        if not colon or not name:
            raise DataError(f"{path}:1: header field '{field}' is not 'name:type': write it as e.g. "
                            f"'{field or 'user_id'}:token' (types: {', '.join(ATOMIC_TYPES)}), fields separated by tabs.")
        if kind not in ATOMIC_TYPES:
            close = difflib.get_close_matches(kind, ATOMIC_TYPES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise DataError(f"{path}:1: unknown type '{kind}' of column '{name}'{hint}: "
                            f"use one of {', '.join(ATOMIC_TYPES)}.")
        if name in columns:
            raise DataError(f"{path}:1: column '{name}' appears twice in the header: rename or remove one.")
        columns[name] = kind
    return columns


def _check_record(path: Path, number: int, values: list[str], columns: dict[str, str]) -> None:
    if any("\x00" in value for value in values):
        raise DataError(f"{path}:{number}: a NUL byte, which RecBole's reader cuts the field at: remove it.")
    if len(values) != len(columns):
        raise DataError(f"{path}:{number}: {len(values)} fields where the header has {len(columns)} "
                        f"({', '.join(columns)}): fix the line (fields are separated by one tab).")
    for (name, kind), value in zip(columns.items(), values):
        if kind == "float" and value != "" and not _is_float(value):  # "" is a missing value
            raise DataError(f"{path}:{number}: '{value}' in float column '{name}' is not a number: "
                            f"fix the value, or declare the column '{name}:token'.")
        if kind == "float_seq" and not all(_is_float(v) for v in value.split()):
            raise DataError(f"{path}:{number}: '{value}' in float_seq column '{name}' is not space-separated numbers.")


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------- trainability
def check_trainable(config: Any, dataset: Any) -> list[str]:
    """Problems of the built dataset that would end in a traceback or a silently empty evaluation.

    Returns notes to report (run log and result.json); raises :class:`DataError` for what cannot run.
    """
    import torch

    notes: list[str] = []
    if dataset.inter_num == 0:
        side = [name for name, feat in (("item", dataset.item_feat), ("user", dataset.user_feat)) if feat is not None]
        if side and config["filter_inter_by_user_or_item"]:
            files = " / ".join(f"{config['dataset']}.{name}" for name in side)
            raise DataError(f"Dataset '{config['dataset']}' has no interaction left: filter_inter_by_user_or_item "
                            f"drops every interaction whose id is missing from {files}, so their ids match none of "
                            f"the .inter file's. Check that {files} uses the same id tokens (or set "
                            "filter_inter_by_user_or_item: False to keep the interactions without side features).")
        raise DataError(f"Dataset '{config['dataset']}' has no interaction left after RecBole's filters "
                        "(user_inter_num_interval, item_inter_num_interval, val_interval): loosen them.")
    users = torch.as_tensor(dataset.inter_feat[dataset.uid_field])
    rows_per_user = torch.bincount(users, minlength=dataset.user_num)  # [user_num], padding 0 first
    counts = rows_per_user[1:][rows_per_user[1:] > 0]
    split = config["eval_args"]["split"] if config["eval_args"] else None
    by_split_protocol = config["MODEL_TYPE"] == ModelType.SEQUENTIAL  # the sequential models' split_protocol
    if isinstance(split, Mapping) and "LS" in split and (not by_split_protocol or config["split_protocol"] in (
            None, "leave_one_out")):
        short = int((counts < 3).sum())
        if short == len(counts):
            raise DataError(f"Dataset '{config['dataset']}': every user has fewer than 3 interactions, so "
                            "leave-one-out leaves nothing to train, validate and test on: give users at least 3 "
                            "interactions (or use a random split, eval_args split: {RS: [0.8, 0.1, 0.1]}).")
        if short:
            notes.append(f"{short} of {len(counts)} users have fewer than 3 interactions: leave-one-out gives them "
                         "no validation (or no test) row; they only train.")
    if NegativeArgs.of(config).sample_num or protocols.samples_unseen_items(config):
        # Only a user with at least item_num - 1 interactions can have seen every item: count the
        # distinct items of those users alone (never a key per interaction of the whole dataset).
        heavy = rows_per_user >= dataset.item_num - 1  # [user_num]
        full = 0
        if bool(heavy.any()):
            rows = heavy[users]
            items = torch.as_tensor(dataset.inter_feat[dataset.iid_field])[rows]
            distinct = torch.unique(users[rows].long() * dataset.item_num + items.long())
            per_user = torch.bincount(distinct // dataset.item_num, minlength=dataset.user_num)
            full = int((per_user >= dataset.item_num - 1).sum())
        if full:
            raise DataError(
                f"Dataset '{config['dataset']}': {full} user(s) interacted with every one of the "
                f"{dataset.item_num - 1} items, so no negative can be drawn for them: remove those users, add "
                "items, or train without sampled negatives (loss_type CE with train_neg_sample_args: ~) and "
                "evaluate with ranking_protocol full_masked.")
    largest_k = max(config["topk"] or [0])
    if largest_k > dataset.item_num - 1:
        raise DataError(f"topk {config['topk']}: {largest_k} is more than the {dataset.item_num - 1} items of dataset "
                        f"'{config['dataset']}': use values up to {dataset.item_num - 1}.")
    return notes
