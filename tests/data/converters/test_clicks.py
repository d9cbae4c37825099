"""RSC15 and Retailrocket converters on generated files in the published layouts, against an independent
pandas transcription of the official preprocessing scripts (module docstring of ``clicks.py``)."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pandas as pd
import pytest

from recbole_ext.convert import convert
from recbole_ext.data.converters.atomic import ConvertError


def write_rsc15(path, n_sessions=400, seed=0):
    """yoochoose-clicks.dat: session,ISO time,item,category; sessions of 1..8 clicks on ~60 items."""
    rng = random.Random(seed)
    start = dt.datetime(2014, 4, 1, tzinfo=dt.timezone.utc)
    lines = []
    for session in range(1, n_sessions + 1):
        t = start + dt.timedelta(seconds=rng.randrange(0, 6 * 86400))
        for _ in range(rng.choice([1, 1, 2, 3, 5, 8])):
            t += dt.timedelta(milliseconds=rng.randrange(1000, 600_000))
            item = 214_500_000 + int(rng.paretovariate(1.0)) % 60
            lines.append(f"{session},{t.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z,{item},0\n")
    path.write_text("".join(lines))
    return path


def official_rsc15(path) -> pd.DataFrame:
    """GRU4Rec's examples/rsc15/preprocess.py, filters only (UTC times)."""
    data = pd.read_csv(path, sep=",", header=None, usecols=[0, 1, 2], dtype={0: np.int64, 1: str, 2: np.int64})
    data.columns = ["SessionId", "TimeStr", "ItemId"]
    data["Time"] = (pd.to_datetime(data.TimeStr) - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    session_lengths = data.groupby("SessionId").size()
    data = data[np.isin(data.SessionId, session_lengths[session_lengths > 1].index)]
    item_supports = data.groupby("ItemId").size()
    data = data[np.isin(data.ItemId, item_supports[item_supports >= 5].index)]
    session_lengths = data.groupby("SessionId").size()
    return data[np.isin(data.SessionId, session_lengths[session_lengths >= 2].index)]


def read_inter(path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t")
    frame.columns = ["user", "item", "rating", "time"]
    return frame


def test_rsc15_keeps_what_the_official_script_keeps(tmp_path):
    src = write_rsc15(tmp_path / "yoochoose-clicks.dat")
    report = convert("rsc15", src, tmp_path / "out")
    ours = read_inter(tmp_path / "out" / "rsc15" / "rsc15.inter")
    official = official_rsc15(src)
    assert 0 < len(official) < report.lines_read
    assert sorted(zip(ours.user, ours.item, ours.time.round(3))) == sorted(
        zip(official.SessionId, official.ItemId, official.Time.round(3)))
    assert sum(report.skipped.values()) == report.lines_read - len(official)
    assert (ours.groupby("user").time.apply(lambda t: t.is_monotonic_increasing)).all()


def test_rsc15_bad_lines_and_wrong_file(tmp_path):
    src = write_rsc15(tmp_path / "clicks.dat", n_sessions=50)
    with open(src, "a") as f:
        f.write("7,not-a-time,214500001,0\n7,2014-04-02T10:00:00.000Z\n")
    report = convert("rsc15", src, tmp_path / "out")
    assert report.bad == {"unparseable field": 1, "wrong number of fields": 1}
    (tmp_path / "events.csv").write_text("timestamp,visitorid,event,itemid,transactionid\n")
    with pytest.raises(ConvertError, match="yoochoose-clicks.dat"):
        convert("rsc15", tmp_path / "events.csv", tmp_path / "out2")


def write_events(path, n_visitors=150, seed=1):
    rng = random.Random(seed)
    lines = ["timestamp,visitorid,event,itemid,transactionid\n"]
    for visitor in range(n_visitors):
        t = 1_433_000_000_000 + rng.randrange(0, 10**9)
        for _ in range(rng.randrange(1, 15)):
            t += rng.choice([1000, 60_000, 1_800_000, 3_600_000, 3_600_001, 7_200_000])
            event = rng.choice(["view"] * 8 + ["addtocart", "transaction"])
            item = rng.randrange(30) if rng.random() < 0.9 else 1000 + rng.randrange(500)
            lines.append(f"{t},{visitor},{event},{item},{'7' if event == 'transaction' else ''}\n")
    rng.shuffle(lines[1:])
    path.write_text("".join(lines))
    return path


def official_retailrocket(path) -> pd.DataFrame:
    """retailrocket_preproc.py of hidasib/gru4rec_third_party_comparison, up to the processed views."""
    data = pd.read_csv(path)
    data = data.sort_values(["visitorid", "timestamp", "itemid"]).reset_index(drop=True)
    data["session_id"] = np.cumsum(np.hstack([False, (data.timestamp.values[1:] - data.timestamp.values[:-1] > 3600 * 1000)
                                              | (data.visitorid.values[1:] != data.visitorid.values[:-1])]))
    view = data[data.event == "view"]
    view = pd.DataFrame({"session_id": view.session_id.values, "item_id": view.itemid.values, "time": view.timestamp.values})
    dupmask = np.hstack([False, (view.session_id.values[1:] == view.session_id.values[:-1])
                         & (view.item_id.values[1:] == view.item_id.values[:-1])])
    view = view[~dupmask].copy()
    previous = -1
    while len(view) != previous:
        previous = len(view)
        slength = view.groupby("session_id").size()
        view = view[~view.session_id.isin(slength[slength == 1].index)]
        isupp = view.groupby("item_id").size()
        view = view[~view.item_id.isin(isupp[isupp < 5].index)]
    return view


def test_retailrocket_keeps_what_the_official_script_keeps(tmp_path):
    src = write_events(tmp_path / "events.csv")
    report = convert("retailrocket", src, tmp_path / "out")
    ours = read_inter(tmp_path / "out" / "retailrocket" / "retailrocket.inter")
    official = official_retailrocket(src)
    assert 0 < len(official) < report.lines_read
    # sessions numbered alike up to the official's 0-based start: compare the partition, not the labels
    ours_sessions = ours.groupby("user").apply(lambda s: tuple(zip(s["item"], (s["time"] * 1000).round().astype(int))))
    official_sessions = official.groupby("session_id").apply(lambda s: tuple(zip(s.item_id, s.time)))
    assert sorted(ours_sessions) == sorted(official_sessions)


def test_rsc15_runs_end_to_end_with_the_official_preset_and_the_session_protocol(tmp_path):
    """Smoke: a generated yoochoose-clicks.dat -> the rsc15 converter -> GRU4RecPaper with
    gru4rec-official-rsc15 (split_protocol session, Recall@20 / MRR@20, ties against the target)."""
    from recbole_ext import run

    src = write_rsc15(tmp_path / "yoochoose-clicks.dat", n_sessions=600)
    convert("rsc15", src, tmp_path / "data")
    result = run("GRU4RecPaper", "rsc15", ["gru4rec-official-rsc15"],
                 overrides={"data_path": tmp_path / "data", "epochs": 1, "show_progress": False, "state": "WARNING",
                            "n_sample": 16, "train_batch_size": 64},
                 output_dir=tmp_path / "run")
    assert set(result["test_result"]) == {"recall@20", "mrr@20"}
    assert 0 < result["test_result"]["mrr@20"] <= result["test_result"]["recall@20"] <= 1
    assert result["eval_protocol"].startswith("session split")
