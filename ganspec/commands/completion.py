"""`ganspec completion bash|zsh`: a shell completion script generated from the argument parser.

The script is written from `ganspec.cli.build_parser()` each time it is asked for, so a new
subcommand (nested ones such as `data get` included), option or choice completes without an edit
here. What an argument completes to is read from the parser too: its `choices`; folders for a name
with DIR in it (`RUN_DIR`, `--out DIR`); `.gan` files (and folders, to walk into) for the other
positional arguments (`PATH`, `spec`, `a`) and for `PATH`/`SPEC` values; any file for `--output`,
`--plot` and `--plugin`; nothing for the rest (`--set`, `-n`), which are typed.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass

SHELLS = ("bash", "zsh")
_FILE_VALUES = frozenset({"file", "output", "plot", "module"})  # options whose value is any file


@dataclass(frozen=True)
class Argument:
    """One argument of a command, as completion needs it."""

    flags: tuple[str, ...]  # empty for a positional argument
    name: str  # the metavar, or the destination
    help: str
    kind: str  # "flag" (no value), "choices", "gan", "dir", "file" or "none"
    choices: tuple[str, ...] = ()
    many: bool = False  # repeatable option, or a positional taking several words
    optional: bool = False  # a positional that may be left out
    final: bool = False  # --help, --version: nothing follows


@dataclass(frozen=True)
class Command:
    """A command: its words after `ganspec` (none for `ganspec` itself), one-line help, options,
    positional arguments in order, and its own subcommands (`data get`), chosen after its positionals."""

    path: tuple[str, ...]
    help: str
    options: tuple[Argument, ...]
    positionals: tuple[Argument, ...]
    subcommands: tuple["Command", ...] = ()

    @property
    def name(self) -> str:
        return self.path[-1] if self.path else "ganspec"

    @property
    def key(self) -> str:
        """The command's words, as the scripts name it ("" for `ganspec` itself)."""
        return " ".join(self.path)

    def walk(self):
        """This command and every command below it, depth first."""
        yield self
        for command in self.subcommands:
            yield from command.walk()


def command_tree(parser: argparse.ArgumentParser, path: tuple[str, ...] = (), help: str = "") -> Command:
    """`parser` as a tree of commands, in the order they were added."""
    arguments, subcommands = [], []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            subcommands += [command_tree(sub, path + (name,), helps.get(name, ""))
                            for name, sub in action.choices.items()]
        elif action.help != argparse.SUPPRESS:
            arguments.append(_argument(action))
    return Command(path, _one_line(help), tuple(a for a in arguments if a.flags),
                   tuple(a for a in arguments if not a.flags), tuple(subcommands))


def commands(parser: argparse.ArgumentParser) -> list[Command]:
    """The subcommands of `ganspec`, in the order they were added."""
    return list(command_tree(parser).subcommands)


def _argument(action: argparse.Action) -> Argument:
    name = str(action.metavar or action.dest)
    flags = tuple(action.option_strings)
    many = action.nargs in ("+", "*", argparse.REMAINDER) or isinstance(action, argparse._AppendAction)
    optional = not flags and action.nargs in ("?", "*")
    final = isinstance(action, (argparse._HelpAction, argparse._VersionAction))
    if action.nargs == 0:
        kind = "flag"
    elif action.choices:
        kind = "choices"
    elif "dir" in name.lower():
        kind = "dir"
    elif not flags or name.lower() in ("path", "spec"):
        kind = "gan"
    elif name.lower() in _FILE_VALUES or action.dest in _FILE_VALUES:
        kind = "file"
    else:
        kind = "none"
    choices = tuple(str(c) for c in action.choices) if kind == "choices" else ()
    return Argument(flags, name, _one_line(action.help or ""), kind, choices, many, optional, final)


def _one_line(text: str) -> str:
    return " ".join(str(text).replace("%%", "%").split())


def cmd_completion(args) -> int:
    """Print the completion script for `args.shell`."""
    from ganspec import exitcodes

    parser = args.parser_factory()  # ganspec.cli.build_parser: commands never import the command line
    print(bash_script(parser) if args.shell == "bash" else zsh_script(parser), end="")
    return exitcodes.OK


# ---- bash ------------------------------------------------------------------------------------

_BASH_HELPERS = r'''
_ganspec_add() {  # each line of standard input becomes one candidate
    local line
    while IFS= read -r line; do COMPREPLY+=("$line"); done
}

_ganspec_complete() {  # _ganspec_complete KIND WORD [CHOICES]: the candidates for WORD
    case "$1" in
        choices) _ganspec_add < <(compgen -W "$3" -- "$2") ;;
        gan)
            compopt -o filenames 2>/dev/null
            _ganspec_add < <(compgen -f -X '!*.gan' -- "$2"; compgen -d -- "$2")
            if (( ${#COMPREPLY[@]} == 0 )); then _ganspec_add < <(compgen -f -- "$2"); fi ;;
        dir)
            compopt -o filenames 2>/dev/null
            _ganspec_add < <(compgen -d -- "$2") ;;
        file)
            compopt -o filenames 2>/dev/null
            _ganspec_add < <(compgen -f -- "$2") ;;
    esac
    return 0
}
'''

_BASH_MAIN = r'''
_ganspec() {
    local cur prev cmd="" word i npos=0
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    # `--format=json`: bash splits the word at "=" (it is in COMP_WORDBREAKS by default)
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" ]] && (( COMP_CWORD > 1 )); then
        prev="${COMP_WORDS[COMP_CWORD-2]}"
    fi
    # which command the words before the cursor chose, and how many of its positionals they gave
    for (( i = 1; i < COMP_CWORD; i++ )); do
        word="${COMP_WORDS[i]}"
        case "$word" in
            -*)
                if [[ ${COMP_WORDS[i+1]} == "=" ]]; then
                    (( i += 2 ))
                elif [[ " $(_ganspec_value_options "$cmd") " == *" $word "* ]]; then
                    (( i += 1 ))
                fi ;;
            *)
                if (( npos == $(_ganspec_subcommand_at "$cmd") )) &&
                   [[ " $(_ganspec_subcommands "$cmd") " == *" $word "* ]]; then
                    cmd="${cmd:+$cmd }$word"
                    npos=0
                else
                    (( npos += 1 ))
                fi ;;
        esac
    done
    _ganspec_command "$cmd" "$prev" "$cur" "$npos"
}

complete -F _ganspec ganspec
'''


def bash_script(parser: argparse.ArgumentParser) -> str:
    """The bash completion script: `source` it, or save it as a bash-completion file."""
    from ganspec import __version__

    tree = list(command_tree(parser).walk())
    lines = [f"# bash completion for ganspec {__version__}, written by `ganspec completion bash` from its",
             "# argument parser. Load it with:  source <(ganspec completion bash)",
             "# or save it as ~/.local/share/bash-completion/completions/ganspec",
             _BASH_HELPERS]
    lines += _bash_table("_ganspec_subcommands", "a command's subcommands",
                         {c.key: _words(s.name for s in c.subcommands) for c in tree if c.subcommands})
    lines += _bash_table("_ganspec_subcommand_at", "how many positionals come before a command's subcommand",
                         {c.key: str(len(c.positionals)) if c.subcommands else "-1" for c in tree})
    lines += _bash_table("_ganspec_value_options", "the options of a command that take a value",
                         {c.key: _words(f for a in c.options if a.kind != "flag" for f in a.flags) for c in tree})
    lines += ["_ganspec_command() {  # _ganspec_command COMMAND PREVIOUS CURRENT POSITIONALS_BEFORE",
              '    case "$1" in']
    for command in tree:
        lines.append(f"        {_case(command.key)})")
        lines.append('            case "$2" in')
        for option in command.options:
            if option.kind != "flag":
                lines.append(f"                {'|'.join(_case(f) for f in option.flags)}) "
                             f"{_bash_complete(option)}; return 0 ;;")
        lines.append("            esac")
        lines.append(f'            if [[ $3 == -* ]]; then _ganspec_complete choices "$3" '
                     f"{_words(f for a in command.options for f in a.flags)}; return 0; fi")
        lines.append('            case "$4" in')
        for index, positional in enumerate(command.positionals):
            rest = positional.many and index == len(command.positionals) - 1 and not command.subcommands
            lines.append(f"                {'*' if rest else index}) {_bash_complete(positional)} ;;")
        if command.subcommands:
            names = _words(s.name for s in command.subcommands)
            lines.append(f'                {len(command.positionals)}) _ganspec_complete choices "$3" {names} ;;')
        lines.append("            esac ;;")
    lines += ["    esac", "    return 0", "}", _BASH_MAIN]
    return "\n".join(lines)


def _bash_table(function: str, comment: str, rows: dict[str, str]) -> list[str]:
    lines = [f"{function}() {{  # {comment}", '    case "$1" in']
    lines += [f"        {_case(key)}) echo {value} ;;" for key, value in rows.items()]
    return lines + ["    esac", "}", ""]


def _bash_complete(argument: Argument) -> str:
    if argument.kind == "none":
        return ":"
    call = f'_ganspec_complete {argument.kind} "$3"'
    return f"{call} {_words(argument.choices)}" if argument.kind == "choices" else call


def _words(words) -> str:
    """Words as one shell word (for `compgen -W`), quoted."""
    return shlex.quote(" ".join(words))


def _case(word: str) -> str:
    """A word as a `case` pattern that matches only itself."""
    return word if re.fullmatch(r"[A-Za-z0-9_.-]+", word) else shlex.quote(word)


# ---- zsh -------------------------------------------------------------------------------------

_ZSH_ACTIONS = {"gan": '_files -g "*.gan(-.)"', "dir": "_files -/", "file": "_files", "none": " "}


def zsh_script(parser: argparse.ArgumentParser) -> str:
    """The zsh completion script: a `_ganspec` file for $fpath, or `source`d after compinit."""
    from ganspec import __version__

    lines = ["#compdef ganspec",
             f"# zsh completion for ganspec {__version__}, written by `ganspec completion zsh` from its",
             "# argument parser. Save it as _ganspec in a folder of $fpath, or after compinit in ~/.zshrc:",
             "#   source <(ganspec completion zsh)"]
    for command in command_tree(parser).walk():
        lines += [""] + _zsh_function(command)
    lines += ["",
              "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then",
              '  _ganspec "$@"',
              "else",
              "  compdef _ganspec ganspec",
              "fi",
              ""]
    return "\n".join(lines)


def _zsh_name(command: Command) -> str:
    return "_ganspec" + "".join("_" + re.sub(r"[^A-Za-z0-9_]", "_", word) for word in command.path)


def _zsh_function(command: Command) -> list[str]:
    """One completion function per command; a command with subcommands hands the rest to theirs."""
    specs = [spec for option in command.options for spec in _zsh_option(option)]
    specs += [_zsh_positional(p) for p in command.positionals]
    if not command.subcommands:
        body = ["  _arguments -s \\"] + [f"    {spec} \\" for spec in specs] + ["    && return 0", "  return 1"]
        return [f"{_zsh_name(command)}() {{"] + body + ["}"]
    words = " ".join(("ganspec",) + command.path)
    lines = [f"{_zsh_name(command)}() {{",
             '  local curcontext="$curcontext" state state_descr line ret=1',
             "  typeset -A opt_args",
             "  _arguments -C \\"]
    lines += [f"    {spec} \\" for spec in specs]
    lines += ["    ': :->command' \\",
              "    '*:: :->argument' && ret=0",
              "  case $state in",
              "    command)",
              "      local -a commands",
              "      commands=("]
    lines += [f"        {_zsh_quote(s.name.replace(':', chr(92) + ':') + ':' + s.help)}" for s in command.subcommands]
    lines += ["      )",
              f"      _describe -t commands {_zsh_quote(words + ' command')} commands && ret=0 ;;",
              "    argument)",
              f'      curcontext="${{curcontext%:*:*}}:{"-".join(("ganspec",) + command.path)}-$words[1]:"',
              "      case $words[1] in"]
    lines += [f"        {_case(s.name)}) {_zsh_name(s)} && ret=0 ;;" for s in command.subcommands]
    lines += ["      esac ;;",
              "  esac",
              "  return ret",
              "}"]
    return lines


def _zsh_option(option: Argument) -> list[str]:
    """One `_arguments` spec per flag of the option, its other spellings excluded once it is given."""
    if option.final:
        group = "(- : *)"
    elif option.many:
        group = "*"
    else:
        group = f"({' '.join(option.flags)})" if len(option.flags) > 1 else ""
    description = f"[{_zsh_bracket(option.help)}]" if option.help else ""
    value = "" if option.kind == "flag" else f":{_zsh_message(option.name)}:{_zsh_action(option)}"
    specs = []
    for flag in option.flags:
        joined = "" if option.kind == "flag" else ("=" if flag.startswith("--") else "+")
        specs.append(_zsh_quote(f"{group}{flag}{joined}{description}{value}"))
    return specs


def _zsh_positional(positional: Argument) -> str:
    prefix = "*:" if positional.many else "::" if positional.optional else ":"
    return _zsh_quote(f"{prefix}{_zsh_message(positional.name)}:{_zsh_action(positional)}")


def _zsh_action(argument: Argument) -> str:
    if argument.kind == "choices":
        return "(" + " ".join(re.sub(r"([^A-Za-z0-9_.-])", r"\\\1", c) for c in argument.choices) + ")"
    return _ZSH_ACTIONS[argument.kind]


def _zsh_message(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9 _.=-]", "", name.lower().replace("_", " ")) or "value"


def _zsh_bracket(text: str) -> str:
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _zsh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
