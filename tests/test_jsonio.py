"""Every JSON file pynet-cvae writes is strict JSON: NaN and infinities included."""

import json
import math

import pytest

from pynet_cvae.history import History
from pynet_cvae.jsonio import dumps, encode_non_finite, restore_non_finite
from pynet_cvae.plugins.cvae.evaluation import save_results


def strict_load(path):
    """Parse as JavaScript's JSON.parse or jq would: NaN and Infinity are errors."""
    def refuse(token):
        raise ValueError(f"{token} is not JSON")
    with open(path, encoding="utf-8") as stream:
        return json.load(stream, parse_constant=refuse)


def test_non_finite_floats_become_strings_or_null():
    value = {"a": [1.5, math.nan], "b": (math.inf, -math.inf), "c": "NaN", "d": None}
    assert json.loads(dumps(value)) == {"a": [1.5, "NaN"], "b": ["Infinity", "-Infinity"],
                                        "c": "NaN", "d": None}
    assert json.loads(dumps(value, non_finite="null"))["b"] == [None, None]
    assert encode_non_finite(2.0) == 2.0 and restore_non_finite("2.0") == "2.0"
    assert math.isnan(restore_non_finite("NaN")) and restore_non_finite("-Infinity") < 0
    with pytest.raises(ValueError, match="non_finite 'zero' unknown"):
        dumps(1.0, non_finite="zero")


def test_a_history_with_non_finite_values_is_strict_json_and_reads_back(tmp_path):
    history = History(name="validation")
    history.log((0, 0), loss=math.inf, accuracy=0.5)
    history.log((0, 1), loss=1.0, accuracy=math.nan)
    history.log((0, 2), loss=0.5)
    path = history.save(str(tmp_path))
    assert strict_load(path)["values"] == {"loss": ["Infinity", 1.0, 0.5],
                                           "accuracy": [0.5, "NaN", None]}
    loaded = History.load(path)
    assert loaded["loss"][1][0] == math.inf and math.isnan(loaded["accuracy"][1][1])
    assert loaded["accuracy"][0] == [(0, 0), (0, 1)]


def test_evaluation_results_are_strict_json(tmp_path):
    path = save_results(str(tmp_path / "results.json"),
                        {"run": {"iw_nll": math.inf, "diversity": math.nan, "n": 3}})
    assert strict_load(path) == {"run": {"diversity": "NaN", "iw_nll": "Infinity", "n": 3}}


def test_the_board_log_holds_a_gap_for_a_non_finite_value(tmp_path):
    from pynet_cvae.plotting import Board

    from .servers import free_port

    log = tmp_path / "board.jsonl"
    with pytest.warns(RuntimeWarning, match="no Visdom server answers"):
        board = Board(port=free_port(), host="http://127.0.0.2", timeout=1.0,
                      replay_log=str(log), allow_remote=True)
    board.update_plots({"loss": math.inf}, 0)
    board.update_plots({"loss": math.nan}, 1)
    board.close()
    lines = log.read_text().splitlines()
    assert [json.loads(line)[1]["data"][0]["y"]
            for line in lines] == [[None], [None]]
    assert "NaN" not in log.read_text() and "Infinity" not in log.read_text()
