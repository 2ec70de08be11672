import io
import json

from training.ml import events


def test_it_round_trips_an_event():
    out = io.StringIO()
    events.emit("metrics", stream=out, step=3, values={"loss": 0.5, "nan": float("nan")})
    line = out.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    assert events.parse_event(line) == {
        "event": "metrics",
        "step": 3,
        "values": {"loss": 0.5, "nan": None},
    }


def test_it_ignores_free_log_text():
    assert events.parse_event("{'train_loss': '0.5'}") is None  # transformers' own log line
    assert events.parse_event("Loading weights") is None
    assert events.parse_event(json.dumps({"event": "unknown"})) is None
    assert events.parse_event(json.dumps([1, 2])) is None
    assert events.parse_event('  {"event": "log", "message": "hi"}  ') == {
        "event": "log",
        "message": "hi",
    }


def test_it_is_silent_on_other_ranks(monkeypatch):
    out = io.StringIO()
    monkeypatch.setenv("RANK", "1")
    events.emit("progress", stream=out, step=1, total_steps=2)
    assert out.getvalue() == ""
