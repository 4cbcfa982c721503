"""`stagewise --version`, and the libraries' progress bars kept on (off only where stagewise draws its
own)."""

import importlib.metadata

import datasets
import huggingface_hub.utils as hub_utils
import pytest
import transformers

from stagewise.cli import main
from stagewise.utils import library_bars_off


def test_version_names_stagewise_and_its_stack(capsys):
    import stagewise

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"stagewise {stagewise.__version__} (")
    for pkg in ("torch", "transformers", "trl", "datasets"):
        assert f"{pkg} {importlib.metadata.version(pkg)}" in line


def _bars_on() -> tuple[bool, bool, bool]:
    return (
        datasets.is_progress_bar_enabled(),
        not hub_utils.are_progress_bars_disabled(),
        transformers.utils.logging.is_progress_bar_enabled(),
    )


def test_dataset_writes_show_progress_through_the_cli(tmp_path, capfd):
    """A `save_to_disk` run from the command keeps datasets' bar (the CLI used to turn every bar off)."""
    assert (
        main(
            [
                "world",
                "--out",
                str(tmp_path / "w"),
                "--train-size",
                "4",
                "--test-size",
                "2",
                "--families",
                "perception",
            ]
        )
        == 0
    )
    assert "Saving the dataset" in capfd.readouterr().err
    assert _bars_on() == (True, True, True)  # downloads (hub and transformers) keep theirs too


def test_library_bars_off_inside_stagewise_bars_only(tmp_path, capfd):
    ds = datasets.Dataset.from_list([{"x": i} for i in range(3)])
    capfd.readouterr()
    with library_bars_off():
        assert _bars_on() == (False, False, False)
        ds.save_to_disk(str(tmp_path / "quiet"))
    assert "Saving the dataset" not in capfd.readouterr().err
    assert _bars_on() == (True, True, True)
    hub_utils.disable_progress_bars()  # a user's own choice (HF_HUB_DISABLE_PROGRESS_BARS) survives the block
    try:
        with library_bars_off():
            pass
        assert hub_utils.are_progress_bars_disabled()
    finally:
        hub_utils.enable_progress_bars()
