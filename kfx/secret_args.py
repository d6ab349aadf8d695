"""An ArgumentParser that never echoes a credential typed on the command line by mistake.

kfx reads secrets only from env vars and files, but argparse quotes what it could not parse ("unrecognized arguments:
--token VALUE", "invalid choice: 'VALUE'"), so a pasted token would reach the terminal and CI logs.
"""

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

# Options whose value may be a credential (--token, --password, --api-key, --auth, --cookie-file, ...).
_SECRET_OPTION = re.compile(r"--?[\w-]*(tok|cookie|secret|passw|pwd|auth|key|cred|bearer)[\w-]*", re.IGNORECASE)


class RedactingArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors never repeat a value given after a secret-looking option.

    argparse quotes what it could not parse ("unrecognized arguments: --token VALUE", "invalid choice: 'VALUE'"), so
    a credential pasted on the command line by mistake would reach the terminal and CI logs. Subcommand parsers are
    of the same class (add_subparsers' default), so one instance at the top covers every command.
    """

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:
        self._arguments = list(sys.argv[1:] if args is None else args)  # error() receives only the message
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        hidden = message
        for secret in sorted(secret_arguments(getattr(self, "_arguments", []), _known_words(self)), key=len)[::-1]:
            hidden = hidden.replace(repr(secret), "'***'")  # "invalid choice: 'VALUE'"
            hidden = re.sub(rf"(?<![^\s=]){re.escape(secret)}(?!\S)", "***", hidden)
        if hidden != message:
            hidden += " (the value of a secret-looking option is hidden; pass credentials through env vars or files)"
        super().error(hidden)


def secret_arguments(arguments: Sequence[str], known: set[str]) -> list[str]:
    """The arguments that may be credentials: the `=value` of a secret-looking option, and what follows one up to
    the next long option, except words the parser knows (option names, choices such as `--auth token`)."""
    secrets, hiding = [], False
    for argument in arguments:
        option, equals, value = argument.partition("=")
        if hiding and not argument.startswith("--") and argument not in known:
            secrets.append(argument)  # even `-abc…`: a token may start with a dash
        elif argument.startswith("-") and _SECRET_OPTION.fullmatch(option):
            secrets += [value] if equals and value else []
            hiding = not equals
        elif argument.startswith("--"):
            hiding = False
    return secrets


def _known_words(parser: argparse.ArgumentParser) -> set[str]:
    """Option names and choices of `parser` and of its subcommands: words that are never secrets."""
    words = set()
    for action in parser._actions:
        words.update(action.option_strings)
        for choice in action.choices or ():
            words.add(str(choice))
            if isinstance(action, argparse._SubParsersAction):
                words |= _known_words(action.choices[choice])
    return words
