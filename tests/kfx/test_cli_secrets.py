"""A secret typed on the command line by mistake is never echoed back by the real `kfx` CLI (argparse quotes what
it cannot parse), for every way of mistyping it; kfx reads credentials only from env vars and files."""

import pytest
from conftest import run_kfx

from kfx import secret_args

SECRET = "tok-5ecret-b3arer-value"


@pytest.mark.parametrize(
    "argv",
    [
        ["submit", "--token", SECRET],
        ["submit", f"--token={SECRET}"],
        ["submit", "--cookie", f"oauth2_proxy={SECRET}"],
        ["submit", "--auth", SECRET],  # invalid choice
        ["submit", "--auth", "token", SECRET],  # a stray positional after a valid choice
        ["submit", "--token", f"-{SECRET}"],  # a token that starts with a dash
        ["submit", "--host", "--token", SECRET],  # expected one argument
        ["run", "--password", SECRET, "--config", "x.yaml"],
        ["serve", f"--api_key={SECRET}"],
        ["--token", SECRET, "submit"],  # before the command: "invalid choice" of the command
    ],
    ids=[
        "token",
        "token-equals",
        "cookie",
        "auth-choice",
        "after-auth-token",
        "dash",
        "expected-argument",
        "run-password",
        "serve-api-key",
        "before-command",
    ],
)
def test_secret_on_the_command_line_is_never_echoed(argv):
    result = run_kfx(*argv)
    assert result.returncode == 2
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "error: " in result.stderr.splitlines()[-1]


def test_hidden_value_is_said_and_other_errors_are_untouched():
    hidden = run_kfx("submit", "--token", SECRET).stderr.splitlines()[-1]
    assert hidden.startswith("kfx: error: unrecognized arguments: --token ***")
    assert "pass credentials through env vars or files" in hidden
    plain = run_kfx("submit", "--auth", "token", "--max-concurrency", "many").stderr.splitlines()[-1]
    assert plain.endswith("argument --max-concurrency: invalid int value: 'many'")


def test_secret_arguments_keeps_option_names_and_choices():
    known = {"--auth", "token", "--config", "submit"}
    arguments = ["submit", "--auth", "token", "s1", "--config", "c.yaml", "--password=s2", "--api-key", "s3", "s4"]
    assert secret_args.secret_arguments(arguments, known) == ["s1", "s2", "s3", "s4"]
