"""Campaign definitions: load and validate the YAML, store it, render the script for one customer."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import jinja2
import jinja2.meta
import yaml
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError

from zuoxi.campaigns.models import CampaignError, CampaignSpec, Customer
from zuoxi.messages import said, yaml_message
from zuoxi.store import Store
from zuoxi.store import campaigns as stored
from zuoxi.store.campaigns import get_campaign

__all__ = ["CampaignError", "get_campaign"]  # kept here for their callers: the error, and the campaign in a session

BUNDLED = ("card_activation",)
# Scripts are plain text read out on a call (printed by the CLI), never HTML: escaping would garble them. They come
# from a YAML file or the database and render where $ZUOXI_SECRET_KEY is set: sandboxed, and checked on loading to
# hold nothing but placeholders, conditions and a few text filters (no attribute, item or call: `script_variables`).
_JINJA = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
_JINJA.globals.clear()  # no range, lipsum, dict, cycler…: a script has its variables and nothing else
_SCRIPT_NODES = (
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.If,
    nodes.CondExpr,
    nodes.Test,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Concat,
)
_SCRIPT_FILTERS = frozenset({"default", "d", "trim", "upper", "lower", "replace", "truncate"})
# Script variables a call list can fill, by the customer column they come from.
CUSTOMER_VARIABLES = {"name": "salutation", "card_last4": "card_last4", "branch": "branch"}
# Filled from the campaign or the call, never from the list.
OTHER_VARIABLES = ("hotline", "agent_id", "title")


def load_spec(source: str | Path) -> CampaignSpec:
    """A bundled campaign name or a YAML file; errors name the field (`questions.0.keywords: …`)."""
    if isinstance(source, str) and source in BUNDLED:
        text = resources.files("zuoxi.campaigns").joinpath(f"data/{source}.yaml").read_text(encoding="utf-8")
        where = source
    else:
        path = Path(source)
        if not path.is_file():
            raise CampaignError(f"{path}：没有这个活动文件（内置活动：{'、'.join(BUNDLED)}）")
        text, where = path.read_text(encoding="utf-8"), str(path)
    try:
        spec = CampaignSpec.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as error:
        raise CampaignError(yaml_message(error, where, text)) from None
    except ValidationError as error:
        details = "；".join(f"{'.'.join(map(str, e['loc'])) or '文件'}：{said(e)}" for e in error.errors())
        raise CampaignError(f"{where}：{details}") from None
    unknown = script_variables(spec) - set(CUSTOMER_VARIABLES) - set(OTHER_VARIABLES)
    if unknown:
        raise CampaignError(
            f"{where}：script：不认识的变量 {'、'.join(sorted(unknown))}"
            f"（可用：{'、'.join([*CUSTOMER_VARIABLES, *OTHER_VARIABLES])}）"
        )
    return spec


def script_variables(spec: CampaignSpec) -> set[str]:
    """The variables the script reads; a script holding more than placeholders, conditions and text filters (an
    attribute, an item, a call, a loop: what a template injection is made of) is refused."""
    try:
        tree = _JINJA.parse(spec.script)
    except jinja2.TemplateSyntaxError as error:
        raise CampaignError(f"话术第 {error.lineno} 行：模板写法有误（{error.message}）") from None
    for node in tree.find_all(nodes.Node):
        allowed = isinstance(node, _SCRIPT_NODES) or (isinstance(node, nodes.Filter) and node.name in _SCRIPT_FILTERS)
        if not allowed:
            raise CampaignError(
                f"话术第 {node.lineno} 行：只能用 {{{{ 变量 }}}} 占位、{{% if %}} 条件和过滤器 "
                f"{'、'.join(sorted(_SCRIPT_FILTERS))}，不能用 {type(node).__name__}"
            )
    return jinja2.meta.find_undeclared_variables(tree)


def needed_customer_fields(spec: CampaignSpec) -> set[str]:
    """The customer columns the script reads: only these are kept from the call list."""
    return {CUSTOMER_VARIABLES[v] for v in script_variables(spec) if v in CUSTOMER_VARIABLES}


def create_campaign(store: Store, spec: CampaignSpec, replace: bool = False) -> int:
    """Store the campaign; `replace` updates the definition of an existing one (its list stays)."""
    return stored.save_campaign(store.engine, spec, replace)


def render_script(spec: CampaignSpec, customer: Customer, agent_id: str) -> str:
    """The script as the agent reads it to this customer; a variable the list lacks is an error."""
    values = {
        var: getattr(customer, column)
        for var, column in CUSTOMER_VARIABLES.items()
        if getattr(customer, column) is not None
    }
    try:
        return _JINJA.from_string(spec.script).render(
            hotline=spec.hotline, agent_id=agent_id, title=spec.title, **values
        )
    except jinja2.UndefinedError as error:
        missing = re.match(r"'(\w+)' is undefined", error.message or "")
        raise CampaignError(
            f"客户 {customer.id}：话术要用到 {missing[1] if missing else error.message}，名单上这位客户没有"
        ) from None
    except jinja2.TemplateError as error:  # the sandbox's SecurityError: a script stored without `load_spec`'s check
        raise CampaignError(f"客户 {customer.id}：话术无法生成（{error}）") from None
