"""Bad input is one clear line on stderr and exit status 2: never a traceback, never a silent wrong
run, never a half-written result. Then random byte-level corruptions of a small atomic file."""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recbole_ext.loading import load_dataset

from recbole_ext import build_config, cli
from recbole_ext.errors import RecboleExtError
from recbole_ext.outputs import FAILED_MARK
from recbole_ext.checks import check_trainable
from tests.helpers import FAST_SASREC, tiny_rows

HEADER = "user_id:token\titem_id:token\ttimestamp:float"


def inter_text(rows=None, header: str = HEADER) -> str:
    rows = tiny_rows() if rows is None else rows
    return "\n".join([header, *(f"u{u}\ti{i}\t{t}" for u, i, t in rows)]) + "\n"


def every_item_seen() -> str:
    """Three users who each saw all four items (and one more user): no negative exists for them."""
    rows = [(u, i, 10 * u + i) for u in range(3) for i in range(4)] + [(3, 0, 50), (3, 1, 51), (3, 2, 52)]
    return inter_text(rows)


# (case id, extra command-line arguments, files to write {relative path: text}, expected fragment)
CASES = [
    ("typo in a key", ["--learing_rate=0.5"], {}, "Unknown configuration key 'learing_rate' (--learing_rate)"
     ": no layer of SASRec's configuration knows it. Did you mean learning_rate?"),
    ("YAML syntax error", ["--config_files", "{tmp}/bad.yaml"], {"bad.yaml": "epochs: 5\nlearning_rate: [0.1\n"},
     "bad.yaml:3:1: not valid YAML"),
    ("header without types", [], {"data/tiny/tiny.inter": inter_text(header="user_id\titem_id\ttimestamp")},
     "tiny.inter:1: header field 'user_id' is not 'name:type'"),
    ("no timestamp, sequential model", [], {"data/tiny/tiny.inter": "user_id:token\titem_id:token\nu1\ti1\n"},
     "a sequential model orders each user's items by 'timestamp', which this file lacks"),
    ("a user saw every item", ["--train_neg_sample_args={'distribution':'uniform','sample_num':1}",
                               "--loss_type=BPR"], {"data/tiny/tiny.inter": every_item_seen()},
     "3 user(s) interacted with every one of the 4 items, so no negative can be drawn"),
    # ---- more cases found while building the checks
    ("config file is a list", ["--config_files", "{tmp}/list.yaml"], {"list.yaml": "- epochs: 5\n"},
     "list.yaml:1:1: a config file holds 'key: value' lines (a mapping), not a list."),
    ("config file missing", ["--config_files", "{tmp}/none.yaml"], {}, "is neither a file nor a shipped preset"),
    ("typo in a config file key", ["--config_files", "{tmp}/typo.yaml"], {"typo.yaml": "hiden_size: 32\n"},
     "Unknown configuration key 'hiden_size' (in {tmp}/typo.yaml)"),
    ("unknown column type", [], {"data/tiny/tiny.inter": inter_text(header=HEADER.replace("token\titem", "tokn\titem"))},
     "tiny.inter:1: unknown type 'tokn' of column 'user_id' (did you mean token?)"),
    ("wrong field count", [], {"data/tiny/tiny.inter": inter_text().replace("u0\ti", "u0\tx\ti", 1)},
     "tiny.inter:2: 4 fields where the header has 3"),
    ("header only", [], {"data/tiny/tiny.inter": HEADER + "\n"}, "tiny.inter: no line after the header"),
    ("non-numeric float", [], {"data/tiny/tiny.inter": inter_text().replace("\t0\n", "\tyesterday\n", 1)},
     "tiny.inter:2: 'yesterday' in float column 'timestamp' is not a number"),
    ("duplicate column", [], {"data/tiny/tiny.inter": inter_text(header=HEADER.replace("timestamp", "item_id"))},
     "tiny.inter:1: column 'item_id' appears twice in the header"),
    ("not UTF-8", [], {"data/tiny/tiny.inter": inter_text().replace("u0", "u\udcff0", 1)},
     "tiny.inter: a line near line 2 is not UTF-8 text"),
    ("unterminated quote", [], {"data/tiny/tiny.inter": inter_text().replace("u1\t", '"u1\t', 1)},
     "cannot be split into fields"),
    ("load_col drops the time", ["--load_col={'inter': ['user_id', 'item_id']}"], {},
     "load_col drops 'timestamp' from tiny.inter, and a sequential model needs it"),
    ("every user too short", [], {"data/tiny/tiny.inter": inter_text([(u, u, u) for u in range(5)])},
     "every user has fewer than 3 interactions"),
    ("unknown model", ["--model", "SASRek"], {}, "Unknown model 'SASRek'. Did you mean SASRec"),
    ("unknown dataset", ["--dataset", "tiny2"], {}, "Unknown dataset 'tiny2'"),
    ("number expected", ["--epochs=abc"], {}, "epochs"),
    ("negative epochs", ["--epochs=-1"], {}, "epochs=-1 is not allowed for SASRec: epochs takes an integer >= 0."),
    ("not --key=value", ["epochs=3"], {}, "Unrecognised argument 'epochs=3'"),
    ("missing search space", ["--tune", "{tmp}/none.hyper"], {}, "Search-space file"),
    ("dropout out of range", ["--hidden_dropout_prob=1.5"], {}, "hidden_dropout_prob=1.5 is not allowed"),
    ("resume what is not a run", ["--resume", "{tmp}"], {}, "is not a recbole-ext run directory"),
    # ---- second round, by family (issue 20)
    # nothing the user had is lost: a run directory is never reused
    ("output_dir holds a finished run", [], {"out/result.json": "{}", "out/run.json": "{}"},
     "holds a finished run (result.json), which is never overwritten: give a new --output_dir"),
    ("output_dir holds an unfinished run", [], {"out/run.json": "{}", "out/resume.pth": "x"},
     "holds an unfinished run: continue it with 'python run.py --resume {tmp}/out'"),
    ("output_dir is someone's folder", [], {"out/notes.txt": "mine"}, "is not empty: give a new or empty directory"),
    # RecBole's own configuration errors, reworded
    ("unknown metric", ["--metrics=['NDCG','Bogus']"], {}, "there is no metric named 'Bogus'"),
    ("ranking and value metrics", ["--metrics=['NDCG','RMSE']"], {}, "mixes ranking metrics"),
    ("metric typo in valid_metric", ["--valid_metric=NDGC@10"], {}, "is not among metrics"),
    # checks that used to run after the data loaded
    ("heads do not divide hidden_size", ["--n_heads=3"], {}, "hidden_size=16 is not a multiple of n_heads=3"),
    ("topk above the items", ["--topk=[10,500]"], {}, "500 is more than the 40 items of dataset 'tiny'"),
    ("unknown split method", ["--eval_args={'split':{'XX':[0.8,0.1,0.1]},'order':'TO','mode':'full'}"], {},
     "is not a RecBole split"),
    ("unknown eval order", ["--eval_args={'split':{'LS':'valid_and_test'},'order':'ZZ','mode':'full'}"], {},
     "eval_args order='ZZ' is not allowed"),
    # every filesystem error of an output path, before training
    ("result_file is a directory", ["--result_file", "{tmp}"], {}, "--result_file '{tmp}' is a directory"),
    ("result_file under a file", ["--result_file", "{tmp}/data/tiny/tiny.inter/r.json"], {}, "cannot be written"),
    ("output_dir is a file", ["--output_dir", "{tmp}/data/tiny/tiny.inter"], {}, "is a file: give a directory path"),
    ("output_dir under a file", ["--output_dir", "{tmp}/data/tiny/tiny.inter/run"], {}, "cannot be written"),
    # damaged run state under --resume
    ("resume state truncated", ["--resume", "{tmp}/run"], {"run/run.json": "{}", "run/resume.pth": "PK\x03"},
     "cannot be read"),
    ("run.json damaged", ["--resume", "{tmp}/run"], {"run/run.json": "{\"model\": "}, "cannot be read (JSONDecodeError)"),
    # settings that cannot take effect
    ("device cuda without a GPU", ["--device=cuda"], {}, "asks for a GPU, but torch sees none"),
    ("gpu_id without a GPU", ["--gpu_id=1"], {}, "asks for a GPU, but torch sees none"),
    ("not a device", ["--device=tpu"], {}, "device='tpu' (--device) is not a device"),
    ("deprecated neg_sampling", ["--neg_sampling={'uniform':1}"], {}, "use train_neg_sample_args"),
    ("deprecated eval_setting", ["--eval_setting=TO_LS,full"], {}, "use eval_args"),
    ("overridden checkpoint_dir", ["--checkpoint_dir={tmp}/ck"], {}, "'checkpoint_dir' (--checkpoint_dir) cannot be set"),
    ("duplicate key in one YAML", ["--config_files", "{tmp}/dup.yaml"], {"dup.yaml": "epochs: 1\nepochs: 2\n"},
     "dup.yaml:2:1: not valid YAML (the key 'epochs' is given twice"),
    # timestamps that would reorder sequences
    ("nan timestamp", [], {"data/tiny/tiny.inter": inter_text().replace("\t3\n", "\tnan\n", 1)}, "tiny.inter:5: timestamp"),
    ("empty timestamp", [], {"data/tiny/tiny.inter": inter_text().replace("\t3\n", "\t\n", 1)}, "tiny.inter:5: timestamp"),
    ("inf timestamp", [], {"data/tiny/tiny.inter": inter_text().replace("\t3\n", "\tinf\n", 1)}, "tiny.inter:5: timestamp inf"),
    # unclear messages made clear
    ("byte-order mark", [], {"data/tiny/tiny.inter": "\ufeff" + inter_text()}, "starts with a byte-order mark"),
    ("config file is a directory", ["--config_files", "{tmp}/data"], {}, "is a directory: give a YAML file"),
    ("tuning without trials", ["--tune", "SASRec", "--max_evals", "0"], {}, "--max_evals 0: a search needs"),
    # the third round
    ("log state not a level", ["--state=bogus"], {}, "state='bogus' is not allowed for SASRec: state takes one of debug"),
    ("data_path is a file", ["--data_path={tmp}/data/tiny/tiny.inter"], {}, "tiny.inter' is a file: give the folder"),
    ("data_path empty", ["--data_path="], {}, "data_path is empty (--data_path sets it to ~)"),
    ("tuning space names a key twice", ["--tune", "{tmp}/s.hyper"],
     {"s.hyper": "learning_rate choice [0.1]\nlearning_rate choice [0.2]\n"}, "'learning_rate' is already searched on line 1"),
    (".item ids match nothing", ["--load_col={'inter':['user_id','item_id','timestamp'],'item':['item_id','genre']}"],
     {"data/tiny/tiny.item": "item_id:token\tgenre:token\n" + "".join(f"x{i}\tg{i % 2}\n" for i in range(40))},
     "drops every interaction whose id is missing from tiny.item"),
]


@pytest.mark.parametrize("case, args, files, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(case, args, files, expected, tmp_path, capsys):
    (tmp_path / "data" / "tiny").mkdir(parents=True)
    (tmp_path / "data" / "tiny" / "tiny.inter").write_text(inter_text())
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(text.encode("utf-8", errors="surrogateescape"))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    base = []
    if "--resume" not in args:  # SASRec on the tiny dataset unless the case names its own
        for flag, value in (("--model", "SASRec"), ("--dataset", "tiny")):
            base += [] if flag in args else [flag, value]
    out = tmp_path / "out"
    extra = [] if "--resume" in args else [f"--data_path={tmp_path / 'data'}", "--output_dir", str(out),
                                           *[f"--{k}={v}" for k, v in FAST_SASREC.items()]]
    code = cli.main([*base, *extra, *args])  # the case last: its values win
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert expected.replace("{tmp}", str(tmp_path)) in lines[0]
    assert "Traceback" not in captured.err + captured.out
    user_files = {name: text for name, text in files.items() if name.startswith("out/")}
    if user_files:  # what was there is untouched, nothing was added
        assert sorted(str(p.relative_to(tmp_path)) for p in out.rglob("*")) == sorted(user_files)
        assert all((tmp_path / name).read_bytes() == text.encode() for name, text in user_files.items())
        return
    assert not (out / "result.json").exists()  # nothing that looks finished
    if out.exists() and any(out.iterdir()):  # a run that started says it failed
        assert (out / FAILED_MARK).is_file()


def test_short_users_are_reported_not_silently_dropped(tmp_path):
    rows = tiny_rows() + [(100, 1, 1), (100, 2, 2), (101, 3, 3)]  # two users too short for leave-one-out
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "tiny.inter").write_text(inter_text(rows))
    code = cli.main(["--model", "SASRec", "--dataset", "tiny", f"--data_path={tmp_path}", "--output_dir",
                     str(tmp_path / "out"), *[f"--{k}={v}" for k, v in FAST_SASREC.items()]])
    assert code == 0
    notes = json.loads((tmp_path / "out" / "result.json").read_text())["data_notes"]
    assert notes == ["2 of 32 users have fewer than 3 interactions: leave-one-out gives them no validation "
                     "(or no test) row; they only train."]
    assert notes[0] in (tmp_path / "out" / "run.log").read_text()


# --------------------------------------------------------------------- random byte-level corruptions
CLEAN = inter_text(tiny_rows(n_users=8, n_items=10, per_user=6)).encode()


@st.composite
def corrupted(draw) -> bytes:
    data = bytearray(CLEAN)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        byte = draw(st.sampled_from([*b"\t\n\r\"' :x0.-", 0, 0xFF, 0xC3]))
        if action == "flip":
            data[position] = byte
        elif action == "insert":
            data.insert(position, byte)
        elif action == "delete":
            del data[position]
        else:
            del data[position:]
        if not data:
            break
    return bytes(data)


@settings(max_examples=int(os.environ.get("RBX_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=corrupted())
def test_corrupted_atomic_file_loads_or_fails_cleanly(content, tmp_path_factory):
    root = tmp_path_factory.mktemp("corrupt")
    (root / "c").mkdir()
    (root / "c" / "c.inter").write_bytes(content)
    try:
        config = build_config("SASRec", "c", overrides={**FAST_SASREC, "data_path": root})
        dataset = load_dataset(config)
        check_trainable(config, dataset)
    except RecboleExtError as error:
        assert "\n" not in str(error)  # one line
        return
    # A load that passed every check is a correct one: the (user, item) rows RecBole holds are the
    # file's rows with both ids present (RecBole drops rows with a missing id), no more, no fewer.
    body = content.decode("utf-8").split("\n", 1)[1]
    records = csv.reader(io.StringIO(body, newline=""), delimiter="\t", quotechar='"')
    expected = Counter((f[0], f[1]) for f in records if f and f[0] and f[1])
    inter = dataset.inter_feat
    users = dataset.field2id_token["user_id"][np.asarray(inter["user_id"])]
    items = dataset.field2id_token["item_id"][np.asarray(inter["item_id"])]
    assert Counter(zip(users.tolist(), items.tolist())) == expected
