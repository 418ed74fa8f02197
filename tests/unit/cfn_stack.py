"""What a CloudFormation template creates for given parameters, as CloudFormation decides
it: the template's conditions evaluated, a resource or output whose condition is false
left out, every `Fn::If` replaced by its chosen branch and `AWS::NoValue` removed. Only
the functions a condition may use are evaluated (`Fn::Equals`, `Fn::Not`, `Fn::And`,
`Fn::Or`, `Condition`, `Ref` to a parameter); anything else fails the test that asked.

The template is the parsed YAML with CloudFormation's long forms (`{"Ref": ...}`,
`{"Fn::If": [...]}`, `{"Condition": ...}` for `!Condition`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["conditions", "references", "resolved", "stack"]

_NO_VALUE = {"Ref": "AWS::NoValue"}
_REMOVED = object()
_SUB_NAME = re.compile(r"\$\{(?!!)([^}]+)\}")  # ${Name} or ${Name.Attr}; ${!x} is literal


def conditions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    """Every condition's value, the parameters given over their defaults."""
    values = {name: p.get("Default") for name, p in template.get("Parameters", {}).items()}
    unknown = set(parameters) - set(values)
    assert not unknown, f"no such parameters: {unknown}"
    values.update(parameters)
    written = template.get("Conditions", {})

    def operand(value: Any) -> str:
        if isinstance(value, dict):
            [(function, name)] = value.items()
            assert function == "Ref" and name in values, f"cannot evaluate {value}"
            return str(values[name])
        return str(value)

    def holds(expression: dict[str, Any]) -> bool:
        [(function, argument)] = expression.items()
        if function == "Fn::Equals":
            left, right = argument
            return operand(left) == operand(right)
        if function == "Fn::Not":
            [inner] = argument
            return not holds(inner)
        if function == "Fn::And":
            return all(holds(inner) for inner in argument)
        if function == "Fn::Or":
            return any(holds(inner) for inner in argument)
        if function == "Condition":
            return holds(written[argument])
        raise AssertionError(f"a condition function this evaluator does not know: {function}")

    return {name: holds(expression) for name, expression in written.items()}


def resolved(value: Any, truth: dict[str, bool]) -> Any:
    """`value` with each `Fn::If` replaced by its branch; `AWS::NoValue` removes the key
    or list item it stands for."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            name, yes, no = value["Fn::If"]
            return resolved(yes if truth[name] else no, truth)
        if value == _NO_VALUE:
            return _REMOVED
        items = {key: resolved(item, truth) for key, item in value.items()}
        return {key: item for key, item in items.items() if item is not _REMOVED}
    if isinstance(value, list):
        listed = [resolved(item, truth) for item in value]
        return [item for item in listed if item is not _REMOVED]
    return value


def stack(template: dict[str, Any], **parameters: str) -> dict[str, dict[str, Any]]:
    """The resources and outputs a stack of these parameters has, resolved."""
    truth = conditions(template, parameters)
    found: dict[str, dict[str, Any]] = {}
    for section in ("Resources", "Outputs"):
        found[section] = {
            name: resolved(body, truth)
            for name, body in template.get(section, {}).items()
            if "Condition" not in body or truth[body["Condition"]]
        }
    return found


def references(value: Any) -> Iterator[str]:
    """The logical names a value refers to: `Ref`, `Fn::GetAtt`, and the names in a
    `Fn::Sub` string (attributes cut off)."""
    if isinstance(value, dict):
        for function, argument in value.items():
            if function == "Ref" and isinstance(argument, str):
                yield argument
            elif function == "Fn::GetAtt":
                yield argument[0] if isinstance(argument, list) else argument.split(".")[0]
            elif function == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                for name in _SUB_NAME.findall(text):
                    if name not in variables:
                        yield name.split(".")[0]
                yield from references(variables)
            else:
                yield from references(argument)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)
