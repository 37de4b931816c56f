"""Bad input to `stream-al simulate` gets one clear error line, never a traceback."""

import pytest

from stream_al.cli import main


def write(tmp_path, text):
    p = tmp_path / "data.csv"
    p.write_text(text)
    return p


def run(capsys, *argv):
    code = main(["simulate", *map(str, argv), "--embedder", "hashing"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


ROWS = "".join(f"news item number {i} about markets,{'a' if i % 2 else 'b'}\n" for i in range(50))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,label\n   ,a\nreal text,b\n" + ROWS, "empty or whitespace texts (rows 2)"),
        ("text,label\nsome text,\nother text,b\n" + ROWS, "rows have no label (rows 2)"),
        ("body,label\nsome text,a\n", "no column 'text'"),
        ("text,label\n" + ROWS.replace(",b\n", ",a\n"), "only 1 class"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, capsys, content, message):
    code, err = run(capsys, "--data", write(tmp_path, content), "--test-size", "5")
    assert code == 2
    assert message in err


def test_budget_outside_zero_one(tmp_path, capsys):
    code, err = run(capsys, "--data", write(tmp_path, "text,label\n" + ROWS), "--budget", "1.5")
    assert code == 2 and "budget must be in (0, 1], got 1.5" in err


def test_missing_file(tmp_path, capsys):
    code, err = run(capsys, "--data", tmp_path / "nope.csv")
    assert code == 2 and "does not exist" in err


def test_unknown_strategy(tmp_path, capsys):
    code, err = run(capsys, "--data", write(tmp_path, "text,label\n" + ROWS), "--strategy", "magic")
    assert code == 2 and "unknown strategy" in err


def test_test_split_larger_than_the_data(tmp_path, capsys):
    code, err = run(capsys, "--data", write(tmp_path, "text,label\n" + ROWS), "--test-size", "500")
    assert code == 2 and "--test-size 500" in err
