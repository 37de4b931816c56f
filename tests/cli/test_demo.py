"""``stream-al demo`` finds its dataset without the repository: ``--data``, the ``demo.data``
setting, else the AG News copy shipped with the package; a missing file names the fix."""

from __future__ import annotations

from stream_al.cli.demo import packaged_data
from stream_al.dataset import load_labeled
from tests.cli.run import one_line_error, stream_al


def test_the_package_ships_the_ag_news_test_split_with_its_attribution():
    data = load_labeled(packaged_data())
    assert len(data) == 7600
    assert sorted(set(data.labels)) == ["Business", "Sci/Tech", "Sports", "World"]
    assert "Zhang" in (packaged_data().parent / "README.md").read_text()


def test_a_missing_data_flag_names_the_fix(tmp_path):
    err = one_line_error(stream_al("demo", "--data", str(tmp_path / "nope.csv")))
    assert "no dataset at" in err and "(--data)" in err and "pass --data FILE" in err


def test_a_missing_demo_data_setting_names_the_setting(tmp_path):
    done = stream_al("demo", env={"STREAM_AL_DEMO__DATA": str(tmp_path / "gone.csv")})
    err = one_line_error(done)
    assert "gone.csv (demo.data)" in err and "STREAM_AL_DEMO__DATA" in err
