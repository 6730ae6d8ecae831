"""Reading returns, prices, positions and allocation arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.sdk.io import InputError, parse_allocations, read_positions, read_prices, read_returns

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_examples_are_readable() -> None:
    json_returns = read_returns(EXAMPLES / "returns.json")
    assert json_returns == read_returns(EXAMPLES / "returns.csv")
    assert len(json_returns) >= 30
    assert len(read_prices(EXAMPLES / "prices.csv")) >= 200
    from_json = read_positions(EXAMPLES / "positions.json")
    assert from_json == read_positions(EXAMPLES / "positions.csv")
    assert {p.world_id for p in from_json} == {"core", "alpha"}


def test_returns_csv_without_header(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("0.1\n-0.05\n\n0.2\n")
    assert read_returns(path) == [0.1, -0.05, 0.2]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("r.json", '{"values": [1]}', 'expected a JSON object with a "returns" list'),
        ("r.json", '{"returns": 3}', '"returns" must be a list'),
        ("r.json", '{"returns": [0.1, "x"]}', "returns[1]: expected a number"),
        ("r.json", "{", "is not valid JSON"),
        ("r.csv", "date,close\n1,2\n", "no column named return"),
        ("r.csv", "return\n0.1\nabc\n", "line 3: expected a number"),
    ],
)
def test_bad_returns(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_returns(path)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_returns(tmp_path / "missing.json")
    with pytest.raises(InputError, match="cannot read"):
        read_returns(tmp_path)


def test_prices_must_be_positive(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("date,close\n2025-01-01,10\n2025-01-02,0\n")
    with pytest.raises(InputError, match="line 3: price must be finite and > 0"):
        read_prices(path)


def test_positions_errors(tmp_path: Path) -> None:
    bad_csv = tmp_path / "p.csv"
    bad_csv.write_text("world_id,symbol,qty\nw,X,1\n")
    with pytest.raises(InputError, match="missing column"):
        read_positions(bad_csv)
    bad_json = tmp_path / "p.json"
    bad_json.write_text('[{"world_id": "w"}]')
    with pytest.raises(InputError, match="bad position"):
        read_positions(bad_json)


def test_parse_allocations() -> None:
    assert parse_allocations("w1=0.6, w2 = 0.4") == {"w1": 0.6, "w2": 0.4}
    for bad, message in [("w1", "world=fraction"), ("w1=x", "not a number"),
                         ("w1=1.5", r"in \[0, 1\]"), ("w1=0.1,w1=0.2", "twice"),
                         ("=0.3", "world=fraction"), ("w1=nan", r"in \[0, 1\]")]:
        with pytest.raises(InputError, match=message):
            parse_allocations(bad)
