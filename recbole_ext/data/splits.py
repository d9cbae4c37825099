"""The evaluation splits of sequential models (``split_protocol``): which items train, which are targets.

Every split is a :class:`SequenceSplit` over :attr:`~recbole_ext.data.sequence_dataset.SequenceDataset.sequences`
(each user's items in exact time order): a training *prefix* of each row, and validation and test
targets given as positions. A target's input is everything its row holds before it (a model reads its
``MAX_ITEM_LIST_LENGTH`` latest).

``leave_one_out``  (default) the last item is the test target, the one before it the validation
                   target, the rest trains; RecBole's rule for short users is kept (3 items: no
                   validation target; 2 items: only training).
``user_holdout``   ``holdout_user_num`` users (default 1000) with at least 2 items, drawn with
                   the run's ``seed``, are test users and never trained on: their last item is the
                   test target, their earlier items its input. Every other user's last item is
                   the validation target and the rest trains (the GoodReads tutorial's protocol).
``global_time``    one validation cut time and one test cut time for everyone (``split_time``: two
                   dates or Unix times; else ``split_quantile``, default ``[0.8, 0.9]``, quantiles of
                   all interactions' times). Training uses only interactions before the validation
                   cut. For each user with an interaction in [validation cut, test cut), the first
                   such interaction is the validation target; for each user with one at or after
                   the test cut, the first such is the test target (its input: every earlier
                   interaction, the validation period's included, on which the model never trained).
                   A target needs at least one earlier interaction of its user (no cold-start
                   users). This is the global temporal split with *first* targets and a global
                   temporal validation of Gusak et al. 2025 ("Time to Split", arXiv:2507.16289), who
                   also compare *last*, *random* and *all successive* targets and a validation cut
                   taken from the last training items; leave-one-out lets a model train on
                   interactions that happen after another user's test target, this does not.
``session``        GRU4Rec's protocol: each user id is one session (what the ``rsc15`` and
                   ``retailrocket`` converters write). Sessions *starting* in the last ``test_days``
                   (default 1) before the latest interaction are test sessions; those starting in
                   the ``test_days`` before that are validation sessions (their clicks after the test
                   cut dropped); sessions starting earlier train, without their clicks after the
                   validation cut. In test and validation sessions the clicks of items that never
                   occur in training are dropped, then sessions left with fewer than 2 clicks; every
                   click but a session's first is a target, its input the session's earlier clicks.
                   As hidasib/GRU4Rec's ``examples/rsc15/preprocess.py`` splits RSC15 (test: last
                   day; the official validation is the day before, carved from the training set in
                   the same way); its evaluation (``evaluation.py``, ``mode='conservative'``) counts
                   a tie against the target, which the trainer does under this protocol: rank =
                   the number of items scored at least as high as the target.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from recbole_ext.errors import DataError
from recbole_ext.data.user_sequences import UserSequences

SPLIT_PROTOCOLS = ("leave_one_out", "user_holdout", "global_time", "session")
DEFAULT_SPLIT_QUANTILES = (0.8, 0.9)  # global_time: validation and test cuts when no split_time is given
DAY = 86400.0


@dataclass(frozen=True)
class SequenceSplit:
    """Where each phase's targets lie in :attr:`SequenceDataset.sequences` (positions into ``items``).

    ``train_length[r]``: the first ``train_length[r]`` items of row ``r`` are training items;
    ``valid_positions`` / ``test_positions``: the targets, ascending (one per row, or several for ``session``).
    """

    protocol: str
    train_length: torch.Tensor  # [U]
    valid_positions: torch.Tensor  # [Rv]
    test_positions: torch.Tensor  # [Rt]
    test_users_only: bool  # user_holdout, session: test rows belong to users never trained on

    def train_mask(self, sequences: UserSequences) -> np.ndarray:
        """Bool [N]: True at every training item of ``sequences`` (one byte per interaction).

        Built by clearing the positions after each row's training part (at most two per user under
        leave-one-out), never by listing the training positions themselves.
        """
        rest = sequences.lengths - self.train_length  # [U] items after the training part
        first = torch.repeat_interleave(sequences.indptr[:-1] + self.train_length, rest)  # [R]
        offset = torch.arange(int(rest.sum())) - torch.repeat_interleave(rest.cumsum(0) - rest, rest)
        mask = np.ones(len(sequences.items), dtype=bool)
        mask[(first + offset).numpy()] = False
        return mask

    def train_target_positions(self, sequences: UserSequences) -> torch.Tensor:
        """Positions of every training target (each training item but a user's first): [T]."""
        mask = self.train_mask(sequences)
        mask[sequences.indptr[:-1][self.train_length > 0].numpy()] = False
        return torch.from_numpy(np.flatnonzero(mask))

    def train_sequences(self, sequences: UserSequences, with_times: bool = True) -> UserSequences:
        """Each user's training items only, as CSR arrays (rows as in ``sequences``); their
        timestamps too unless ``with_times`` is False (the loaders that never read them)."""
        indptr = torch.zeros_like(sequences.indptr)
        indptr[1:] = self.train_length.cumsum(0)
        mask = self.train_mask(sequences)  # numpy's boolean take: no [N] index array in between
        items = torch.from_numpy(sequences.items.numpy()[mask])
        times = None
        if with_times and sequences.timestamps is not None:
            times = torch.from_numpy(sequences.timestamps.numpy()[mask])
        return UserSequences(users=sequences.users, indptr=indptr, items=items, timestamps=times)


def compute_split(config: Any, sequences: UserSequences, session_cuts: tuple[float, float] | None = None) -> SequenceSplit:
    """The split ``config['split_protocol']`` names, of ``sequences`` (see the module docstring).
    ``session_cuts``: the (validation, test) cut times :func:`session_rows` chose (``session`` only)."""
    protocol = config["split_protocol"] or "leave_one_out"
    lengths, end = sequences.lengths, sequences.indptr[1:]
    if protocol == "leave_one_out":
        n_eval = (lengths - 2).clamp(min=0, max=2)  # RecBole's leave-one-out over prefix rows
        test = end[n_eval >= 1] - 1
        valid = end[n_eval >= 2] - 2
        return SequenceSplit(protocol, lengths - n_eval, valid, test, test_users_only=False)
    if protocol == "user_holdout":
        wanted = int(config["holdout_user_num"] if config["holdout_user_num"] is not None else 1000)
        eligible = (lengths >= 2).nonzero().flatten()
        if wanted < 1 or wanted >= len(eligible):
            raise DataError(
                f"holdout_user_num={wanted}: user_holdout needs at least 1 test user and leaves the others to "
                f"train and validate, and {len(eligible)} users have the 2 items it needs: give a number "
                f"between 1 and {max(len(eligible) - 1, 1)}.")
        generator = torch.Generator().manual_seed(int(config["seed"]))
        chosen = eligible[torch.randperm(len(eligible), generator=generator)[:wanted]]
        is_test = torch.zeros(len(lengths), dtype=torch.bool)
        is_test[chosen] = True
        has_valid = (lengths >= 2) & ~is_test
        train_length = torch.where(is_test, torch.zeros_like(lengths), lengths - has_valid.long())
        return SequenceSplit(protocol, train_length, end[has_valid] - 1, end[is_test] - 1, test_users_only=True)
    if protocol == "global_time":
        cuts = global_cuts(config, _times(sequences, protocol))
        return _nonempty(_global_time(sequences, *cuts), cuts, "move split_time or split_quantile")
    if protocol == "session":
        if session_cuts is None:
            session_cuts = session_cut_times(config, _times(sequences, protocol))
        return _nonempty(_session(sequences, *session_cuts), session_cuts, "change test_days")
    raise DataError(f"split_protocol {protocol!r} is unknown: use one of {', '.join(SPLIT_PROTOCOLS)}.")


def _nonempty(split: SequenceSplit, cuts: tuple[float, float], fix: str) -> SequenceSplit:
    """``split``, refused with one line when a phase has no target (a cut outside the data's times)."""
    for phase, positions in (("validation", split.valid_positions), ("test", split.test_positions)):
        if len(positions) == 0:
            when = ", ".join(_dt.datetime.fromtimestamp(c, _dt.timezone.utc).isoformat(timespec="seconds") for c in cuts)
            raise DataError(f"split_protocol {split.protocol}: no {phase} target with the cuts at {when} (UTC; a "
                            f"target needs an earlier interaction of its user or session): {fix}.")
    return split


def _times(sequences: UserSequences, protocol: str) -> np.ndarray:
    if sequences.timestamps is None:
        raise DataError(f"split_protocol {protocol} cuts by time and needs the timestamp column: add it to load_col "
                        "(inter: [user_id, item_id, timestamp]).")
    return sequences.timestamps.numpy()


def parse_time(value: Any, key: str) -> float:
    """A cut time of the configuration: Unix seconds (a number) or an ISO date / date-time (UTC unless it
    says otherwise). ``"2003-01-01"`` -> 1041379200.0."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        moment = _dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise DataError(f"{key} value {value!r} is not a time: give Unix seconds or a date such as 2003-01-01 "
                        "(or 2003-01-01T12:00:00, UTC).") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.timestamp()


def global_cuts(config: Any, times: np.ndarray) -> tuple[float, float]:
    """(validation cut, test cut) of ``global_time``: ``split_time`` when given, else ``split_quantile``."""
    if config["split_time"] is not None:
        given = config["split_time"]
        if not isinstance(given, (list, tuple)) or len(given) != 2:
            raise DataError(f"split_time={given!r}: give two times, the validation cut then the test cut, e.g. "
                            "split_time: ['2002-10-01', '2002-12-01'].")
        cuts = (parse_time(given[0], "split_time"), parse_time(given[1], "split_time"))
        source = f"split_time={list(given)}"
    else:
        quantiles = config["split_quantile"] if config["split_quantile"] is not None else DEFAULT_SPLIT_QUANTILES
        if (not isinstance(quantiles, (list, tuple)) or len(quantiles) != 2
                or not all(isinstance(q, (int, float)) and 0 < q < 1 for q in quantiles)):
            raise DataError(f"split_quantile={quantiles!r}: give two quantiles of the interactions' times between 0 "
                            "and 1, the validation cut then the test cut, e.g. split_quantile: [0.8, 0.9].")
        cuts = tuple(float(q) for q in np.quantile(times, quantiles, method="lower")) if len(times) else (0.0, 0.0)
        source = f"split_quantile={list(quantiles)}"
    if not cuts[0] <= cuts[1]:
        raise DataError(f"{source}: the validation cut must not come after the test cut.")
    return cuts


def _global_time(sequences: UserSequences, valid_cut: float, test_cut: float) -> SequenceSplit:
    times = torch.from_numpy(_times(sequences, "global_time"))
    rows = torch.repeat_interleave(torch.arange(len(sequences.lengths)), sequences.lengths)  # [N]
    n_users = len(sequences.lengths)
    before_valid = torch.bincount(rows[times < valid_cut], minlength=n_users)  # [U] sorted by time: a prefix
    before_test = torch.bincount(rows[times < test_cut], minlength=n_users)
    start, lengths = sequences.indptr[:-1], sequences.lengths
    first_valid = start + before_valid  # [U] the first interaction at or after the validation cut
    has_valid = (before_valid >= 1) & (before_valid < lengths)
    if len(times):
        has_valid &= times[first_valid.clamp(max=len(times) - 1)] < test_cut
    has_test = (before_test >= 1) & (before_test < lengths)
    return SequenceSplit("global_time", before_valid, first_valid[has_valid], (start + before_test)[has_test],
                         test_users_only=False)


def session_cut_times(config: Any, times: np.ndarray) -> tuple[float, float]:
    """(validation cut, test cut) of ``session``: ``test_days`` and twice that before the latest time."""
    days = float(config["test_days"] if config["test_days"] is not None else 1)
    if not days > 0:
        raise DataError(f"test_days={config['test_days']!r}: give a positive number of days (officially 1).")
    latest = float(times.max()) if len(times) else 0.0
    return latest - 2 * days * DAY, latest - days * DAY


def session_rows(config: Any, sessions: np.ndarray, items: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, tuple]:
    """The rows ``session`` keeps (a bool mask over the given rows: ``sessions`` / ``items`` codes, ``times``)
    and its (validation, test) cut times: the module docstring's filtering, before ids are assigned, so
    that items seen only in dropped clicks never get one."""
    valid_cut, test_cut = session_cut_times(config, times)
    n_sessions = int(sessions.max()) + 1 if len(sessions) else 0
    start = np.full(n_sessions, np.inf)
    np.minimum.at(start, sessions, times)
    session_start = start[sessions]
    train = (session_start < valid_cut) & (times < valid_cut)
    valid = (session_start >= valid_cut) & (session_start < test_cut) & (times < test_cut)
    test = session_start >= test_cut
    trained = np.zeros(int(items.max()) + 1 if len(items) else 0, dtype=bool)
    trained[items[train]] = True
    evaluated = (valid | test) & trained[items]
    counts = np.bincount(sessions[evaluated], minlength=n_sessions)
    evaluated &= counts[sessions] >= 2
    return train | evaluated, (valid_cut, test_cut)


def _session(sequences: UserSequences, valid_cut: float, test_cut: float) -> SequenceSplit:
    times = torch.from_numpy(_times(sequences, "session"))
    start, lengths = sequences.indptr[:-1], sequences.lengths
    nonempty = lengths > 0
    first_time = torch.full((len(lengths),), float("inf"), dtype=times.dtype)
    first_time[nonempty] = times[start[nonempty]]
    is_valid = (first_time >= valid_cut) & (first_time < test_cut)
    is_test = first_time >= test_cut
    rows = torch.repeat_interleave(torch.arange(len(lengths)), lengths)  # [N]
    not_first = torch.ones(len(times), dtype=torch.bool)
    not_first[start[nonempty]] = False
    train_length = torch.bincount(rows[times < valid_cut], minlength=len(lengths))
    train_length[is_valid | is_test] = 0
    positions = torch.arange(len(times))
    return SequenceSplit("session", train_length, positions[not_first & is_valid[rows] & (times < test_cut)],
                         positions[not_first & is_test[rows]], test_users_only=True)
