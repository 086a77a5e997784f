"""The `sarclip` dispatcher: every sub-command is listed, and stray arguments are refused."""

import subprocess
import sys

import pytest

from sarclip_jax.cli import COMMANDS, main


def test_help_lists_every_command_without_importing_jax():
    out = subprocess.run([sys.executable, "-c",
                          "import sys; from sarclip_jax.cli import main\n"
                          "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
                          "assert 'jax' not in sys.modules, 'sarclip --help imported jax'"],
                         capture_output=True, text=True, check=True).stdout
    for name in COMMANDS:
        assert name in out


def test_stray_arguments_are_refused_except_config_overrides(capsys):
    with pytest.raises(SystemExit) as err:
        main(["convert", "--from", "x.pt", "--model", "tiny", "--to", "d", "--config.batch_size=3"])
    assert err.value.code == 2
    assert "unrecognized arguments: --config.batch_size=3" in capsys.readouterr().err
    with pytest.raises(SystemExit, match=r"unrecognised argument '--bogus'"):
        main(["train", "--config", "configs/default.py", "--workdir", "/tmp/x", "--bogus"])
