"""MovieLens converters on tiny fixtures written here: exact output text."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from recbole_ext.convert import convert
from recbole_ext.data.converters.atomic import ConvertError
from recbole_ext.data.converters.movielens import split_title


def flags(*on: int) -> str:
    return "|".join("1" if i in on else "0" for i in range(19))


U_DATA = (
    "1\t10\t5\t881250949\n"
    "2\t10\t3\t881250949\n"  # same time as the row above, other user
    "1\t20\t4\t881250949\n"  # same time as user 1's first row: file order must be kept
    "2\t30\t1\t881250950\n"
    "3\t40\t2\t881250951\n"
)
U_ITEM = (
    f"10|City of Lost Children, The (Cité des enfants perdus, La) (1995)|01-Jan-1995||http://a|{flags(2, 15)}\n"
    f"20|Misérables, Les (1995)|01-Jan-1995||http://b|{flags(8, 12)}\n"
    f'30|"Great Performances" Cats (1998)|01-Jan-1998||http://c|{flags(12)}\n'
    f"40|Tab\tIn Title (V)|07-Feb-1997||http://d|{flags(0)}\n"
    f"50|Never Rated (1990)|01-Jan-1990||http://e|{flags(5)}\n"
)
U_USER = "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n4|33|F|other|15213\n"

INTER = (  # sorted by (user, time, line): users in order of appearance, ties in file order
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "1\t10\t5\t881250949\n"
    "1\t20\t4\t881250949\n"
    "2\t10\t3\t881250949\n"
    "2\t30\t1\t881250950\n"
    "3\t40\t2\t881250951\n"
)
ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "10\tCity of Lost Children, The (Cité des enfants perdus, La)\t1995\tAdventure Sci-Fi\n"
    "20\tMisérables, Les\t1995\tDrama Musical\n"
    '30\t"""Great Performances"" Cats"\t1998\tMusical\n'
    "40\tTab In Title (V)\t1997\tunknown\n"
)
USER = (
    "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
    "1\t24\tM\ttechnician\t85711\n"
    "2\t53\tF\tother\t94043\n"
    "3\t23\tM\twriter\t32067\n"
)


def write_ml100k(folder: Path, u_data: str = U_DATA) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text(u_data, encoding="latin-1")
    (folder / "u.item").write_text(U_ITEM, encoding="latin-1")
    (folder / "u.user").write_text(U_USER, encoding="latin-1")
    return folder


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def test_split_title_keeps_inner_parentheses():
    assert split_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)") == (
        "City of Lost Children, The (Cité des enfants perdus, La)",
        "1995",
    )
    assert split_title("Land Before Time III (1995) (V)") == ("Land Before Time III (1995) (V)", "")
    assert split_title("unknown") == ("unknown", "")


def test_ml100k_directory_exact_output(tmp_path):
    src = write_ml100k(tmp_path / "raw")
    report = convert("ml-100k", src, tmp_path / "out")
    out = tmp_path / "out" / "ml100k"
    assert read(out / "ml100k.inter") == INTER
    assert read(out / "ml100k.item") == ITEM  # latin-1 in, UTF-8 out; item 50 never rated
    assert read(out / "ml100k.user") == USER  # user 4 has no rating
    assert sorted(p.name for p in out.iterdir()) == ["ml100k.inter", "ml100k.item", "ml100k.user"]
    assert report.written == {"ml100k.inter": 5, "ml100k.item": 4, "ml100k.user": 3}
    assert (report.n_users, report.n_items, report.n_bad) == (3, 4, 0)


def test_ml100k_zip_gives_the_same_files(tmp_path):
    src = write_ml100k(tmp_path / "raw")
    zip_path = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        for name in ("u.data", "u.item", "u.user"):
            zf.write(src / name, f"ml-100k/{name}")
    convert("ml-100k", zip_path, tmp_path / "out", name="fromzip")
    out = tmp_path / "out" / "fromzip"
    assert read(out / "fromzip.inter") == INTER
    assert read(out / "fromzip.item") == ITEM
    assert read(out / "fromzip.user") == USER


def test_ml100k_filters_and_bad_lines(tmp_path):
    u_data = U_DATA + "1\t50\n" + "x\t50\t3\t881250960\n" + "\n" + "1\t50\t1\t881250961\n"
    src = write_ml100k(tmp_path / "raw", u_data)
    report = convert("ml-100k", src, tmp_path / "out", min_rating=3, min_user_inter=2)
    assert read(tmp_path / "out" / "ml100k" / "ml100k.inter") == (
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t10\t5\t881250949\n"
        "1\t20\t4\t881250949\n"
    )
    assert report.summary() == (
        "read 9 lines\n"
        f"wrote 2 rows to {tmp_path / 'out' / 'ml100k' / 'ml100k.inter'}\n"
        f"wrote 2 rows to {tmp_path / 'out' / 'ml100k' / 'ml100k.item'}\n"
        f"wrote 1 rows to {tmp_path / 'out' / 'ml100k' / 'ml100k.user'}\n"
        "interactions: 1 users, 2 items\n"
        "skipped 3 rows: rating below 3\n"
        "skipped 1 rows: user has fewer than 2 interactions\n"
        "bad lines skipped 1: wrong number of fields\n"
        "bad lines skipped 1: unparseable field\n"
        "first bad lines:\n"
        f"  {src / 'u.data'}:6: wrong number of fields: 2 instead of 4\n"
        f"  {src / 'u.data'}:7: unparseable field: 'x\\t50\\t3\\t881250960'"
    )
    with pytest.raises(ConvertError, match=r"u\.data:6: wrong number of fields"):
        convert("ml-100k", src, tmp_path / "out2", on_error="stop")
    assert not (tmp_path / "out2").exists()


def test_ml100k_wrong_file(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "u.data").write_text("user_id,book_id,is_read,rating,is_reviewed\n0,1,1,5,0\n")
    with pytest.raises(ConvertError, match=r"u\.data:1: does not look like u\.data.*wrong file"):
        convert("ml-100k", tmp_path / "raw", tmp_path / "out")
    with pytest.raises(ConvertError, match="no u.data in this directory"):
        convert("ml-100k", tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


ML1M_RATINGS = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978300760\n"
ML1M_MOVIES = (
    "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
    "661::City of Lost Children, The (Cité des enfants perdus, La) (1995)::Adventure|Sci-Fi\n"
    "2::Jumanji (1995)::Adventure|Children's|Fantasy\n"
)
ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n"


def test_ml1m_exact_output(tmp_path):
    raw = tmp_path / "ml-1m"
    raw.mkdir()
    (raw / "ratings.dat").write_text(ML1M_RATINGS, encoding="latin-1")
    (raw / "movies.dat").write_text(ML1M_MOVIES, encoding="latin-1")
    (raw / "users.dat").write_text(ML1M_USERS, encoding="latin-1")
    convert("ml-1m", raw, tmp_path / "out")
    out = tmp_path / "out" / "ml1m"
    assert read(out / "ml1m.inter") == (
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t1193\t5\t978300760\n1\t661\t3\t978302109\n2\t1193\t4\t978300760\n"
    )
    assert read(out / "ml1m.item") == (
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "1193\tOne Flew Over the Cuckoo's Nest\t1975\tDrama\n"
        "661\tCity of Lost Children, The (Cité des enfants perdus, La)\t1995\tAdventure Sci-Fi\n"
    )
    assert read(out / "ml1m.user") == (
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        "1\t1\tF\t10\t48067\n2\t56\tM\t16\t70072\n"
    )


def test_fixture_loads_in_recbole_with_side_features(tmp_path):
    from tests.data.converters.test_real_files import load_dataset

    convert("ml-100k", write_ml100k(tmp_path / "raw"), tmp_path / "data", name="mlfix")
    ds = load_dataset(tmp_path / "data", "mlfix", {
        "inter": ["user_id", "item_id", "rating", "timestamp"],
        "item": ["item_id", "movie_title", "release_year", "class"],
        "user": ["user_id", "age", "gender", "occupation", "zip_code"],
    })
    assert (ds.inter_num, ds.user_num, ds.item_num) == (5, 4, 5)  # + padding id 0
    titles = ds.field2id_token["movie_title"]
    assert {'"Great', 'Performances"', "Cats", "Misérables,", "(Cité", "La)", "Tab", "(V)"} <= set(titles)
    assert set(ds.field2id_token["class"]) >= {"Adventure", "Sci-Fi", "Drama", "Musical", "unknown"}




def test_ml10m_zip_half_stars_and_movies(tmp_path):
    zip_path = tmp_path / "ml-10m.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("ml-10M100K/ratings.dat", "1::122::3.5::838985046\n1::185::5::838983525\n2::122::4::868245777\n")
        zf.writestr("ml-10M100K/movies.dat", "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::"
                    "Action|Crime|Thriller\n999::Unrated (2000)::(no genres listed)\n")
    report = convert("ml-10m", zip_path, tmp_path / "out")
    out = tmp_path / "out" / "ml10m"
    assert read(out / "ml10m.inter") == ("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                         "1\t185\t5\t838983525\n1\t122\t3.5\t838985046\n2\t122\t4\t868245777\n")
    assert read(out / "ml10m.item") == ("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                                        "122\tBoomerang\t1992\tComedy Romance\n185\tNet, The\t1995\tAction Crime Thriller\n")
    assert sorted(report.written) == ["ml10m.inter", "ml10m.item"]  # ML-10M has no users file


@pytest.mark.parametrize("release", ["ml-20m", "ml-25m", "ml-32m"])
def test_csv_releases_read_the_header_and_quoted_titles(tmp_path, release):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,4.0,1112484676\n")
    (raw / "movies.csv").write_text('movieId,title,genres\n2,Jumanji (1995),Adventure|Children\n'
                                    '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Drama\n'
                                    '31,Never rated (2001),(no genres listed)\n', encoding="utf-8")
    convert(release, raw, tmp_path / "out")
    name = release.replace("-", "")
    assert read(tmp_path / "out" / name / f"{name}.inter").splitlines()[1:] == ["1\t29\t4.0\t1112484676",
                                                                               "1\t2\t3.5\t1112486027"]
    assert read(tmp_path / "out" / name / f"{name}.item").splitlines()[1:] == [
        "2\tJumanji\t1995\tAdventure Children", "29\tCity of Lost Children, The (Cité des enfants perdus, La)\t1995\tDrama"]
    (raw / "ratings.csv").write_text("1,2,3.5,1112486027\n")
    with pytest.raises(ConvertError, match="expected the header 'userId,movieId,rating,timestamp'"):
        convert(release, raw, tmp_path / "out2")
