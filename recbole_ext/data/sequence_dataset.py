"""The sequence-native dataset: atomic files -> every user's items in exact time order, as CSR arrays.

RecBole's ``SequentialDataset`` reads timestamps as float32 (64-128 s resolution at Unix times),
may min-max scale them (``normalize_all``), and materialises one prefix row per interaction
(``[interactions x MAX_ITEM_LIST_LENGTH]`` for the items and again for the times). This class keeps
RecBole's contract (a ``SequentialDataset`` subclass: ``field2id_token`` / ``token2id`` /
``id2token``, ``item_num``, side features of ``.item`` / ``.user`` files, what ``Trainer`` and the
evaluator read) and replaces what is underneath:

* the ``.inter`` file is read by :mod:`recbole_ext.data.inter_file` (dictionary-encoded tokens,
  float64 values, a binary cache beside the file);
* RecBole's filters run on those arrays (missing ids, ``rm_dup_inter``, ``val_interval``,
  ``filter_inter_by_user_or_item``, ``user_inter_num_interval`` / ``item_inter_num_interval``);
* ids are remapped as RecBole remaps them (first appearance in the file, after filtering; then
  ids that occur only in ``.item`` / ``.user``);
* **order**: interactions are sorted stably by (user, time, line of the file): the time field is
  compared as float64 and never rescaled; interactions of one user at the same time keep the
  order of their lines;
* :attr:`SequenceDataset.sequences` holds each user's items in that order (CSR:
  :class:`~recbole_ext.data.user_sequences.UserSequences`) and ``inter_feat`` the same rows; no
  prefix row is ever built. Memory is a few arrays of the number of interactions.

:meth:`SequenceDataset.build` splits each user's sequence as ``split_protocol`` says
(:mod:`recbole_ext.data.splits`: ``leave_one_out``, ``user_holdout``, ``global_time``, ``session``)
and returns three views (``dataset.copy``). The validation and test views' ``inter_feat`` holds
their target rows and their ``target_positions`` index :attr:`SequenceDataset.sequences`; the
train view holds no rows (its targets, nearly every interaction, are read from ``split`` and the
arrays, never copied). The loaders cut histories from the arrays per batch
(:mod:`recbole_ext.data.prefix_rows`, :mod:`recbole_ext.protocols`).
"""

from __future__ import annotations

import contextlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from recbole.data.dataset import SequentialDataset
from recbole.data.interaction import Interaction
from recbole.utils import FeatureSource, FeatureType

from recbole_ext.errors import DataError
from recbole_ext.data.inter_file import read_inter_columns, read_header
from recbole_ext.data.splits import compute_split, session_rows
from recbole_ext.data.user_sequences import UserSequences

# RecBole settings the sequence-native path cannot honour: refused rather than silently ignored.
UNSUPPORTED_KEYS = {
    "benchmark_filename": "pre-split files are not read; the split is computed (split_protocol)",
    "threshold": "labels from a threshold are for point-wise models, not sequential ones",
    "preload_weight": "preloaded embeddings are not supported for sequential models",
}
SHARED_REST = "dataset.pkl"  # in a folder of shared files: the dataset without its per-interaction arrays


class SequenceDataset(SequentialDataset):
    """RecBole's ``SequentialDataset`` contract over exact-order CSR arrays (see the module docstring)."""

    def _from_scratch(self) -> None:
        self._get_preset()
        self._get_field_from_config()
        for key, why in UNSUPPORTED_KEYS.items():
            if self.config[key] is not None:
                raise DataError(f"{key} is set, but {why}: remove it (sequential models read the .inter file).")
        self._check_field("uid_field", "iid_field", "time_field")
        inter_path = Path(self.dataset_path) / f"{self.dataset_name}.inter"
        columns = self._read_inter(inter_path)
        self.inter_feat = None  # built last; RecBole's side-feature steps below never see it
        self.user_feat = self._load_user_or_item_feat(self.dataset_name, self.dataset_path, FeatureSource.USER, "uid_field")
        self.item_feat = self._load_user_or_item_feat(self.dataset_name, self.dataset_path, FeatureSource.ITEM, "iid_field")
        self._load_additional_feat(self.dataset_name, self.dataset_path)
        self._init_alias()
        for name in ("user_id", "item_id"):
            if len(self.alias[name]) > 1:
                raise DataError(f"alias_of_{name} is set, but the sequence-native path maps only the id column "
                                f"of the .inter file: remove alias_of_{name}.")
        self.feat_name_list = self._build_feat_name_list()  # side features only
        self.filter_notes: list[str] = []
        kept = self._filter_rows(columns, inter_path)
        if len(kept) == columns.n_rows:  # every row: no [N] index array from here on
            kept = None
        self._remap_inter(columns, kept)
        self._remap_rest_of_side_features()
        self._user_item_feat_preparation()
        self._fill_nan()
        with self._inter_floats_hidden():  # interaction columns (the time!) are never rescaled
            self._normalize()
            self._discretization()
        self._build_sequences(columns, kept, inter_path)
        self._aug_presets()  # item_id_list & co. as RecBole declares them (never materialised)
        self._change_feat_format()
        self.feat_name_list = self._build_feat_name_list()

    # --------------------------------------------------------------------------------- reading
    def _read_inter(self, path: Path) -> Any:
        load_col, unload_col = self._get_load_and_unload_col(FeatureSource.INTERACTION)
        separator, encoding = self.config["field_separator"], self.config["encoding"] or "utf-8"
        header = read_header(path, separator, encoding)
        names = [name for name, _ in header
                 if (load_col is None or name in load_col) and (unload_col is None or name not in unload_col)]
        for name, kind in header:
            if name not in names:
                continue
            if kind not in ("token", "float"):
                raise DataError(f"{path}: column '{name}:{kind}' of the .inter file: the sequence-native path reads "
                                f"token and float columns only; leave it out with load_col (inter: [...]).")
            self.field2source[name] = FeatureSource.INTERACTION
            self.field2type[name] = FeatureType(kind)
            self.field2seqlen[name] = 1
            if kind == "float":
                self.field2bucketnum[name] = 2
        use_cache = self.config["data_cache"] is not False
        return read_inter_columns(path, names, separator, encoding, use_cache=use_cache)

    # ------------------------------------------------------------------------------- filtering
    def _filter_rows(self, columns: Any, path: Path) -> np.ndarray:
        """Line order indices of the rows RecBole's filters keep."""
        uid, iid = self.uid_field, self.iid_field
        keep = (columns.codes[uid] >= 0) & (columns.codes[iid] >= 0)
        missing = int((~keep).sum())
        if missing:
            self.filter_notes.append(f"{missing} interaction(s) without a user or item id were dropped.")
        for field, interval in (self.config["val_interval"] or {}).items():
            if field not in columns.types:
                raise DataError(f"val_interval names '{field}', which is not a loaded column of {path.name}: "
                                f"add it to load_col or remove it from val_interval.")
            if field in columns.floats:
                keep &= self._within_intervals(columns.floats[field], self._parse_intervals_str(interval))
            else:
                allowed = np.isin(columns.vocabularies[field], np.asarray(interval, dtype=str))
                codes = columns.codes[field]
                keep &= (codes >= 0) & allowed[np.maximum(codes, 0)]
        if self.config["filter_inter_by_user_or_item"]:
            for field, feat in ((uid, self.user_feat), (iid, self.item_feat)):
                if feat is not None:
                    known = np.isin(columns.vocabularies[field], feat[field].astype(str).to_numpy())
                    keep &= known[np.maximum(columns.codes[field], 0)]
        kept = np.flatnonzero(keep)
        if self.config["rm_dup_inter"] is not None:
            kept = self._remove_duplicates(columns, kept)
        kept = self._k_core(columns, kept)
        self.session_cuts = None
        if self.config["split_protocol"] == "session":  # drops the clicks the protocol never uses
            time = self._time_column(columns, path)
            keep, self.session_cuts = session_rows(self.config, columns.codes[uid][kept], columns.codes[iid][kept],
                                                   np.asarray(columns.floats[time])[kept])
            if not keep.all():
                self.filter_notes.append(f"split_protocol session: {int((~keep).sum())} click(s) it never uses were "
                                         "dropped (after the validation cut in training sessions, of items never "
                                         "trained on, of sessions left with 1 click).")
            kept = kept[keep]
        return kept

    def _time_column(self, columns: Any, path: Path) -> str:
        if self.time_field not in columns.floats:
            raise DataError(f"{path.name}: split_protocol {self.config['split_protocol']} needs the time column "
                            f"'{self.time_field}': add it to load_col (inter: [user_id, item_id, timestamp]).")
        return self.time_field

    def _remove_duplicates(self, columns: Any, kept: np.ndarray) -> np.ndarray:
        """RecBole's ``rm_dup_inter`` (``first`` / ``last``) by time, ties in line order."""
        keep_last = self.config["rm_dup_inter"] == "last"
        users, items = columns.codes[self.uid_field][kept], columns.codes[self.iid_field][kept]
        times = columns.floats[self.time_field][kept]
        order = np.lexsort((times, items, users))  # stable: line order among equal times
        pair = users[order].astype(np.int64) * (len(columns.vocabularies[self.iid_field]) + 1) + items[order]
        boundary = np.ones(len(order), dtype=bool)
        if keep_last:
            boundary[:-1] = pair[1:] != pair[:-1]
        else:
            boundary[1:] = pair[1:] != pair[:-1]
        return np.sort(kept[order[boundary]])

    def _k_core(self, columns: Any, kept: np.ndarray) -> np.ndarray:
        """RecBole's ``user_inter_num_interval`` / ``item_inter_num_interval``, repeated until stable."""
        intervals = {self.uid_field: self._parse_intervals_str(self.config["user_inter_num_interval"]),
                     self.iid_field: self._parse_intervals_str(self.config["item_inter_num_interval"])}
        if all(interval is None for interval in intervals.values()):
            return kept
        banned = {field: np.zeros(len(columns.vocabularies[field]), dtype=bool) for field in intervals}
        while True:
            changed = False
            for field, interval in intervals.items():
                if interval is None:
                    continue
                counts = np.bincount(columns.codes[field][kept], minlength=len(banned[field]))
                present = counts > 0
                bad = present & ~self._within_intervals(counts, interval)
                if bad.any():
                    banned[field] |= bad
                    changed = True
            if not changed:
                break
            keep = ~banned[self.uid_field][columns.codes[self.uid_field][kept]]
            keep &= ~banned[self.iid_field][columns.codes[self.iid_field][kept]]
            kept = kept[keep]
        for field, feat_name in ((self.uid_field, "user_feat"), (self.iid_field, "item_feat")):
            feat, interval = getattr(self, feat_name), intervals[field]
            if feat is not None and interval is not None:  # RecBole drops side rows below the lower bound
                counts = pd.Series(np.bincount(columns.codes[field][kept], minlength=len(banned[field])),
                                   index=columns.vocabularies[field])
                numbers = counts.reindex(feat[field].astype(str).to_numpy(), fill_value=0).to_numpy()
                setattr(self, feat_name, feat[numbers >= interval[0][1]].reset_index(drop=True))
        return kept

    # ------------------------------------------------------------------------------ remapping
    def _remap_inter(self, columns: Any, kept: np.ndarray | None) -> None:
        """Token columns of the kept rows (None: all) -> ids by first appearance (then ids only in side files)."""
        self.inter_ids: dict[str, np.ndarray] = {}
        for field, codes in columns.codes.items():
            codes = _rows(codes, kept)
            if kept is None:  # every code occurs, and codes are numbered by first appearance in the file
                unique = np.arange(len(columns.vocabularies[field]))
            else:
                unique, first = np.unique(codes, return_index=True)
                unique = unique[np.argsort(first, kind="stable")]  # first appearance in the file
            tokens = columns.vocabularies[field][unique]
            id_of_code = np.zeros(len(columns.vocabularies[field]), dtype=np.int32)  # ids < 2**31
            id_of_code[unique] = np.arange(1, len(unique) + 1)
            feat = self.user_feat if field == self.uid_field else self.item_feat if field == self.iid_field else None
            if feat is not None:  # ids only in .user / .item come after, in their file order
                side = pd.unique(feat[field].astype(str).to_numpy())
                tokens = np.concatenate([tokens, side[~np.isin(side, tokens)]]).astype(str)
            id_token = np.concatenate([np.array(["[PAD]"]), tokens.astype(object)])
            self.field2id_token[field] = id_token
            self.field2token_id[field] = {token: i for i, token in enumerate(id_token)}
            if feat is not None:
                feat[field] = feat[field].astype(str).map(self.field2token_id[field]).astype(np.int64)
            self.inter_ids[field] = id_of_code[codes]  # [N kept] int32, line order

    def _remap_rest_of_side_features(self) -> None:
        """RecBole's own remapping for the other token columns of ``.user`` / ``.item`` files."""
        for field in self._rest_fields:
            if self.field2source.get(field) != FeatureSource.INTERACTION:
                self._remap(self._get_remap_list(np.array([field])))

    @contextlib.contextmanager
    def _inter_floats_hidden(self):
        hidden = {f: self.field2type.pop(f) for f, s in list(self.field2source.items())
                  if s == FeatureSource.INTERACTION and f in self.field2type and f not in (self.uid_field, self.iid_field)}
        named = set(self.config["normalize_field"] or []) & set(hidden)
        if named:
            raise DataError(f"normalize_field names {', '.join(sorted(named))} of the .inter file: interaction "
                            "columns are kept as written (the time order depends on it): remove them.")
        try:
            yield
        finally:
            self.field2type.update(hidden)

    # ------------------------------------------------------------------------------ sequences
    def _build_sequences(self, columns: Any, kept: np.ndarray | None, path: Path) -> None:
        users = self.inter_ids[self.uid_field]
        n_users = self.user_num - 1
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(np.bincount(users, minlength=n_users + 1)[1:])
        times = _rows(columns.floats[self.time_field], kept)
        bad = ~np.isfinite(times)
        if bad.any():
            first_bad = int(np.flatnonzero(bad)[0])
            line = _line_number(path, first_bad if kept is None else int(kept[first_bad]))
            first = float(times[bad][0])
            shown = "missing (empty or nan)" if np.isnan(first) else first
            raise DataError(f"{path}:{line}: timestamp {shown} ({int(bad.sum())} row(s) with a missing or "
                            f"non-finite '{self.time_field}'): sequential models order each user's items by time: "
                            "fix or remove those rows.")
        # Stable: same time -> line order. A file already in (user, time) order (as our converters
        # write it) needs no reordering, and no [N] order array.
        order = None if _in_user_then_time_order(users, times) else np.lexsort((times, users))
        del users

        def reordered(values: np.ndarray) -> np.ndarray:
            return values if order is None else values[order]

        # Each column in time order as RecBole's dtypes (int64 ids), freeing its source as it goes:
        # the peak is a few bytes per interaction above the result, not a second copy of every column.
        fields: dict[str, torch.Tensor] = {}
        for field, kind in columns.types.items():
            if kind == "token":
                fields[field] = torch.from_numpy(reordered(self.inter_ids.pop(field)).astype(np.int64))
            elif field == self.time_field:
                fields[field] = torch.from_numpy(np.ascontiguousarray(reordered(times)))
                del times
            else:
                fields[field] = torch.from_numpy(reordered(_rows(columns.floats[field], kept)).astype(np.float32))
        del self.inter_ids, order
        self.inter_feat = Interaction(fields)
        self.all_interactions = self.inter_feat  # views keep it: their histories are cut from it
        self.sequences = UserSequences(
            users=torch.arange(1, n_users + 1), indptr=torch.from_numpy(indptr),
            items=fields[self.iid_field], timestamps=fields[self.time_field])

    # ------------------------------------------------------------------- one copy per machine
    def to_shared_files(self, directory: Path) -> None:
        """Write the per-interaction arrays (the columns of ``inter_feat``, the CSR rows) to
        ``directory`` as ``.npy`` files and the rest (vocabularies, side features, configuration) as
        a pickle, then map this dataset's arrays from those files: every process that loads them
        (:meth:`from_shared_files`) reads the same pages of the page cache, one copy per machine.
        Called before :meth:`build`."""
        directory.mkdir(parents=True, exist_ok=True)
        columns = list(self.inter_feat.interaction)
        arrays = {**{f"column.{name}": self.inter_feat[name] for name in columns},
                  "rows.users": self.sequences.users, "rows.indptr": self.sequences.indptr}
        for name, tensor in arrays.items():
            np.save(directory / f"{name}.npy", tensor.numpy())
        del arrays
        kept = (self.inter_feat, self.all_interactions, self.sequences)
        self.inter_feat = self.all_interactions = self.sequences = None
        try:
            with open(directory / SHARED_REST, "wb") as f:
                pickle.dump((self, columns), f, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            self.inter_feat, self.all_interactions, self.sequences = kept
        del kept
        self._map_shared_arrays(directory, columns)

    @classmethod
    def from_shared_files(cls, directory: Path) -> "SequenceDataset":
        """The dataset :meth:`to_shared_files` wrote to ``directory``, its arrays mapped, not read."""
        with open(directory / SHARED_REST, "rb") as f:
            dataset, columns = pickle.load(f)
        dataset._map_shared_arrays(directory, columns)
        return dataset

    def _map_shared_arrays(self, directory: Path, columns: list[str]) -> None:
        def mapped(name: str) -> torch.Tensor:  # copy-on-write: a write stays private, never reaches the file
            return torch.from_numpy(np.load(directory / f"{name}.npy", mmap_mode="c"))

        self.inter_feat = Interaction({name: mapped(f"column.{name}") for name in columns})
        self.all_interactions = self.inter_feat
        self.sequences = UserSequences(users=mapped("rows.users"), indptr=mapped("rows.indptr"),
                                       items=self.inter_feat[self.iid_field],
                                       timestamps=self.inter_feat[self.time_field])

    # --------------------------------------------------------------------------------- views
    def build(self) -> list["SequenceDataset"]:
        """[train, valid, test] views of the split (see the module docstring).

        The validation and test views hold their target rows (``inter_feat``) and
        ``target_positions``. The train view holds neither (an empty ``inter_feat`` and
        ``target_positions`` None): its targets are nearly every interaction, and a copy of them
        would double the data in memory; the training loaders read them from ``split`` and
        :attr:`sequences` (``split.train_target_positions``, ``split.train_sequences``).
        """
        self.split = compute_split(self.config, self.sequences, getattr(self, "session_cuts", None))
        train = self.copy(self.all_interactions[torch.zeros(0, dtype=torch.long)])
        train.target_positions = None
        views = [train]
        for positions in (self.split.valid_positions, self.split.test_positions):
            view = self.copy(self.all_interactions[positions])
            view.target_positions = positions  # into self.sequences / self.all_interactions
            views.append(view)
        return views

    def _change_feat_format(self) -> None:  # side features only: inter_feat is already an Interaction
        for feat_name in ("user_feat", "item_feat"):
            feat = getattr(self, feat_name)
            if isinstance(feat, pd.DataFrame):
                setattr(self, feat_name, self._dataframe_to_interaction(feat))

    def counter(self, field: str) -> Any:
        """RecBole's ``Counter`` of ``field`` in ``inter_feat``, counted with ``bincount``."""
        from collections import Counter

        counts = torch.bincount(self.inter_feat[field].long(), minlength=self.num(field)).numpy()
        present = np.flatnonzero(counts)
        return Counter(dict(zip(present.tolist(), counts[present].tolist())))

    @property
    def avg_actions_of_users(self) -> float:
        users = self.inter_feat[self.uid_field]
        return len(users) / max(len(torch.unique(users)), 1)

    @property
    def avg_actions_of_items(self) -> float:
        items = self.inter_feat[self.iid_field]
        return len(items) / max(len(torch.unique(items)), 1)

    def __str__(self) -> str:
        return super().__str__() + "\nTime order: exact (float64 time, ties in file order)"


def _rows(values: np.ndarray, kept: np.ndarray | None) -> np.ndarray:
    """``values`` of the kept rows (None: all of them), in memory (a column of the cache is a read-only map)."""
    return np.array(values) if kept is None else np.asarray(values)[kept]


def _in_user_then_time_order(users: np.ndarray, times: np.ndarray) -> bool:
    """Whether rows are already grouped by ascending user id, each user's times non-decreasing."""
    if len(users) < 2:
        return True
    if not bool((users[1:] >= users[:-1]).all()):
        return False
    same_user = users[1:] == users[:-1]
    return bool((times[1:] >= times[:-1])[same_user].all())


def _line_number(path: Path, row: int) -> int:
    """The line of the file holding data row ``row`` (0-based, after the header; blank lines skipped)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        f.readline()
        seen = -1
        for number, line in enumerate(f, start=2):
            if line.strip("\r\n"):
                seen += 1
                if seen == row:
                    return number
    return row + 2
