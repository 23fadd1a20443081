"""typer's own words in Chinese: the usage line, --help's panels and its own option, the value types, the number
ranges and every error typer prints for a mistyped command line (`No such option`, `Missing option`, `Invalid value
for …`). `install()` applies the table below once, when the app is built (zuoxi/cli/app.py).

Why this way: the typer we run (0.29) parses with its own copy of click, `typer._click`, whose messages are plain
f-strings — unlike click, it calls no gettext, so there is no translation catalogue to hand it (and a .mo file
would have to be compiled and shipped for something this small). So the few functions that make those words are
wrapped here, in one place, each turning typer's English into the Chinese of the tables: the rich help and error
printers' module constants (typer.rich_utils), the usage line (`Command.get_usage`), the --help option's help, the
`<type>` label and the range of a value, and the message of the error being printed (`rich_format_error`). A
message these tables do not know is printed as typer made it; a new typer that renames a wrapped function fails
loudly at import (tests/test_cli_terminal.py runs them all)."""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text
from typer import core as typer_core
from typer import rich_utils as typer_rich
from typer._click import core as click_core
from typer._click import decorators as click_decorators

from zuoxi.report.terminal import Prose

# typer.rich_utils' constants around every --help and error box (read when they are printed)
RICH_WORDS = {
    "DEPRECATED_STRING": "（已弃用）",
    "DEFAULT_STRING": "[默认：{}]",
    "ENVVAR_STRING": "[环境变量：{}]",
    "REQUIRED_LONG_STRING": "[必填]",
    "ARGUMENTS_PANEL_TITLE": "参数",
    "OPTIONS_PANEL_TITLE": "选项",
    "COMMANDS_PANEL_TITLE": "命令",
    "ERRORS_PANEL_TITLE": "错误",
    "ABORTED_TEXT": "已中断。",
    "RICH_HELP": "运行 [blue]'{command_path} {help_option}'[/] 查看帮助。",
}
# The usage line: `Usage: zuoxi analyze [OPTIONS] 文件...` → `用法：zuoxi analyze [选项] 文件...`
USAGE_WORDS = {"Usage: ": "用法：", "[OPTIONS]": "[选项]", "COMMAND [ARGS]...": "命令 [参数]..."}
HELP_OPTION = "显示帮助并退出"  # click: "Show this message and exit."
# A value's type in --help (`<str>`); a flag has none. A list's element is followed by "..." (may repeat).
TYPE_NAMES = {
    "str": "文本",
    "int": "整数",
    "int range": "整数",
    "float": "数",
    "float range": "数",
    "Path": "路径",
    "path": "路径",
    "file": "文件",
    "directory": "文件夹",
    "datetime": "日期时间",
    "date": "日期",
    "%Y-%m-%d": "年-月-日",
    "bool": "是/否",
}
UNBOUNDED = 2**31 - 1  # an upper limit only a database column needs: not worth saying
# typer's error messages (and pydantic's, for values it converts), as regular expressions and what replaces them,
# applied in order to the whole message.
ERRORS: list[tuple[str, str]] = [
    (r"^Invalid value for (.+?): ", r"\1 的值不对："),
    (r"^Invalid value: ", "值不对："),
    (r"^Missing option (.+?)\.", r"缺少选项 \1。"),
    (r"^Missing argument (.+?)\.", r"缺少参数 \1。"),
    (r"^Missing parameter: (.+)$", r"缺少参数 \1"),
    (r"^Missing command\.$", "缺少命令（--help 列出全部命令）"),
    (r"^No such command (.+?)\.$", r"没有命令 \1（--help 列出全部命令）"),
    (r"^No such option: (\S+)", r"没有选项 \1"),
    (r" \(Possible options: (.+)\)$", r"（是不是：\1）"),
    (r"^Option (.+?) does not take a value\.$", r"选项 \1 后面不能给值"),
    (r"^Option (.+?) requires an argument\.$", r"选项 \1 后面要给一个值"),
    (r"^Option (.+?) requires (\d+) arguments\.$", r"选项 \1 后面要给 \2 个值"),
    (r"^Argument (.+?) takes (\d+) values\.$", r"参数 \1 要给 \2 个值"),
    (r"^Got unexpected extra argument\(s\) \((.*)\)$", r"多余的参数：\1"),
    (r" \(env var: (.+?)\)", r"（环境变量 \1）"),
    (r"Choose from:\s*", "可选："),
    (r"Input should be greater than or equal to (\S+)", r"不能小于 \1"),
    (r"Input should be greater than (\S+)", r"要大于 \1"),
    (r"Input should be less than or equal to (\S+)", r"不能大于 \1"),
    (r"Input should be less than (\S+)", r"要小于 \1"),
    (r"Input should be a valid integer.*$", "要是整数"),
    (r"Input should be a finite number.*$", "要是有限的数"),
    (r"Input should be a valid number.*$", "要是数字"),
    (r"Input should be a valid boolean.*$", "要是 true 或 false"),
    (r"Input should be a valid date.*$", "要是日期（年-月-日）"),
    (r"Value error, ", ""),
    (r"(.+) does not match the formats? '%Y-%m-%d'\.$", r"\1 不是日期（格式：年-月-日，如 2026-03-02）"),
    (r"(.+) does not match the formats? (.+)\.$", r"\1 的格式不对（应为 \2）"),
    (r"^Value (.+) is not a valid (\w+)\.$", r"\1 不是有效的 \2"),
    (r"^Value must be an iterable\.$", "要给一个或多个值"),
]
_ERRORS = [(re.compile(pattern, re.DOTALL), said) for pattern, said in ERRORS]
_QUOTED_OPTION = re.compile(r"'(-[\w-]+)'")  # typer's hint '--seed': the option as it is typed


def error_message(message: str) -> str:
    """typer's error message in Chinese, as far as ERRORS knows it; an option named in quotes ('--db') without them."""
    for pattern, said in _ERRORS:
        message = pattern.sub(said, message)
    return _QUOTED_OPTION.sub(r"\1", message)


def usage_line(usage: str) -> str:
    for english, chinese in USAGE_WORDS.items():
        usage = usage.replace(english, chinese)
    return usage


def type_label(label: str) -> str:
    """`<str>` → `<文本>`, `<list[Path]>` → `<路径>...`, `<%Y-%m-%d>` → `<年-月-日>`; an unknown type as it is."""
    if not (label.startswith("<") and label.endswith(">")):
        return label
    inner, repeat = label[1:-1], ""
    if inner.startswith("list[") and inner.endswith("]"):
        inner, repeat = inner[5:-1], "..."
    names = [TYPE_NAMES.get(part, part) for part in inner.split("|")]
    return f"<{'|'.join(dict.fromkeys(names))}>{repeat}"


def number_range(low: float | None, high: float | None) -> str | None:
    """A value's limits in --help: `[至少 1]`, `[0 到 2]`; none past UNBOUNDED."""
    if high is not None and high >= UNBOUNDED:
        high = None
    if low is None and high is None:
        return None
    if high is None:
        return f"至少 {low}"
    if low is None:
        return f"至多 {high}"
    return f"{low} 到 {high}"


def _folded(made: Any) -> Any:
    """typer's help texts, wrapped as Chinese reads (zuoxi.report.terminal.Prose): at spaces and between Chinese
    characters, never inside an ASCII word (`json（JS` / `ON Lines）`); rich itself cut a Chinese help short with "…"."""
    return Prose.of(made) if isinstance(made, Text) else made


def _usage_name(self: Any) -> str:
    """An argument in the usage line as click wrote it: its (Chinese) metavar, `[…]` when it may be left out."""
    name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
    return name + ("..." if self.nargs != 1 else "")


_installed: list[bool] = []  # one entry once install() has run


def install() -> None:
    """Put the tables in place (once; later calls do nothing)."""
    if _installed:
        return
    _installed.append(True)
    for name, said in RICH_WORDS.items():
        setattr(typer_rich, name, said)

    make_rich_text = typer_rich._make_rich_text
    typer_rich._make_rich_text = lambda *args, **options: _folded(make_rich_text(*args, **options))

    format_error = typer_rich.rich_format_error

    def rich_format_error(error: Any) -> None:
        english = error.format_message
        error.format_message = lambda: error_message(english())  # this error, as it is printed
        format_error(error)

    typer_rich.rich_format_error = rich_format_error  # type: ignore[assignment]

    get_usage = click_core.Command.get_usage
    click_core.Command.get_usage = lambda self, ctx: usage_line(get_usage(self, ctx))  # type: ignore[method-assign]

    help_option = click_decorators.help_option

    def chinese_help_option(names: list[str]) -> Any:
        add = help_option(names)

        def apply(command: Any) -> Any:
            command = add(command)
            command.params[-1].help = HELP_OPTION
            return command

        return apply

    click_decorators.help_option = chinese_help_option  # type: ignore[assignment]

    display_type = typer_core._TyperParameter.display_type
    typer_core._TyperParameter.display_type = lambda self, ctx: type_label(display_type(self, ctx))  # type: ignore[method-assign]
    option_type = typer_core.TyperOption.display_type_rich

    def option_display_type(self: Any, ctx: Any) -> str | None:
        return None if self.is_flag and self.metavar is None else option_type(self, ctx)

    typer_core.TyperOption.display_type_rich = option_display_type  # type: ignore[method-assign]
    typer_core.describe_number_range = number_range  # type: ignore[assignment]
    typer_core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
