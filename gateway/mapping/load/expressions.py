"""Compiling the safe expression language of ``compute`` and ``when``, at load time.

Parsed with :mod:`ast` and compiled into a tree of closures by walking an allow-list of node
types; nothing is ever passed to ``eval``. Everything is checked when the mapping is loaded:
node types, function names and arity, and every name against the fields defined before it, so
a typo fails at start-up with ``file:line`` instead of on a citizen's submission.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, NoReturn

from gateway.errors import ConfigurationError
from gateway.mapping.run import operators as rt
from gateway.mapping.run.expressions import Evaluator, Expression, Scope

MAX_LENGTH: Final = 2000

_BINARY: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: rt.add,
    ast.Sub: rt.sub,
    ast.Mult: rt.mul,
    ast.Div: rt.div,
    ast.FloorDiv: rt.floordiv,
    ast.Mod: rt.mod,
}
_UNARY: Final[dict[type[ast.unaryop], Callable[[Any], Any]]] = {
    ast.USub: rt.neg,
    ast.UAdd: rt.pos,
    ast.Not: lambda a: not a,
}
_LITERAL_NAMES: Final = {"true": True, "false": False}


@dataclass(frozen=True)
class NameInfo:
    """What a name stands for at load time: a plain value, or a group with members."""

    members: Mapping[str, NameInfo] | None = None
    repeated: bool = False


def compile_expression(text: str, names: Mapping[str, NameInfo], where: str) -> Expression:
    """Compile ``text``; ``names`` are the keys visible to it; ``where`` is ``file:line``."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError(f"{where}: an expression must be a non-empty string")
    if len(text) > MAX_LENGTH:
        raise ConfigurationError(f"{where}: expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigurationError(f"{where}: not a valid expression: {exc.msg}") from None
    run, _ = _Compiler(names, where).compile(tree.body)
    return Expression(text, run)


class _Compiler:
    def __init__(self, names: Mapping[str, NameInfo], where: str) -> None:
        self.names = names
        self.where = where

    def fail(self, node: ast.AST, message: str) -> NoReturn:
        column = getattr(node, "col_offset", 0) + 1
        raise ConfigurationError(f"{self.where}: expression column {column}: {message}")

    def compile(self, node: ast.expr) -> tuple[Evaluator, NameInfo | None]:
        handler = _HANDLERS.get(type(node))
        if handler is None:
            self.fail(node, f"{_describe(node)} is not allowed in expressions")
        return handler(self, node)

    def value(self, node: ast.expr) -> Evaluator:
        return self.compile(node)[0]

    def _constant(self, node: ast.Constant) -> tuple[Evaluator, None]:
        value: Any = node.value
        if isinstance(value, float):
            value = Decimal(repr(value))  # 0.1 as a binary float would not add up with money
        elif value is not None and not isinstance(value, bool | int | str):
            self.fail(node, f"literal of type {type(value).__name__} is not allowed")
        return (lambda _scope: value), None

    def _name(self, node: ast.Name) -> tuple[Evaluator, NameInfo | None]:
        if node.id in _LITERAL_NAMES:
            literal = _LITERAL_NAMES[node.id]
            return (lambda _scope: literal), None
        info = self.names.get(node.id)
        if info is None:
            known = ", ".join(self.names) or "none"
            self.fail(node, f"unknown name {node.id!r} (fields defined before it: {known})")
        key = node.id
        return (lambda scope: scope.get(key)), info

    def _attribute(self, node: ast.Attribute) -> tuple[Evaluator, NameInfo | None]:
        base, info = self.compile(node.value)
        if info is None or info.members is None:
            self.fail(node, f"member access {node.attr!r} is only allowed on a group")
        member_info = info.members.get(node.attr)
        if member_info is None:
            self.fail(node, f"group has no member {node.attr!r}")
        name = node.attr
        repeated = info.repeated or member_info.repeated
        return (lambda scope: rt.member(base(scope), name)), NameInfo(member_info.members, repeated)

    def _bin_op(self, node: ast.BinOp) -> tuple[Evaluator, None]:
        op = _BINARY.get(type(node.op))
        if op is None:
            self.fail(node, f"operator {type(node.op).__name__} is not allowed")
        left, right = self.value(node.left), self.value(node.right)
        return (lambda scope: op(left(scope), right(scope))), None

    def _unary_op(self, node: ast.UnaryOp) -> tuple[Evaluator, None]:
        op = _UNARY.get(type(node.op))
        if op is None:
            self.fail(node, f"operator {type(node.op).__name__} is not allowed")
        operand = self.value(node.operand)
        return (lambda scope: op(operand(scope))), None

    def _bool_op(self, node: ast.BoolOp) -> tuple[Evaluator, None]:
        parts = [self.value(v) for v in node.values]
        is_and = isinstance(node.op, ast.And)

        def run(scope: Scope) -> Any:
            result: Any = None
            for part in parts:
                result = part(scope)
                if bool(result) != is_and:
                    return result
            return result

        return run, None

    def _compare(self, node: ast.Compare) -> tuple[Evaluator, None]:
        ops = []
        for op in node.ops:
            check = rt.COMPARE.get(type(op).__name__)
            if check is None:
                self.fail(node, f"comparison {type(op).__name__} is not allowed")
            ops.append(check)
        operands = [self.value(node.left), *(self.value(c) for c in node.comparators)]

        def run(scope: Scope) -> bool:
            left = operands[0](scope)
            for check, right_fn in zip(ops, operands[1:], strict=True):
                right = right_fn(scope)
                if not check(left, right):
                    return False
                left = right
            return True

        return run, None

    def _if_exp(self, node: ast.IfExp) -> tuple[Evaluator, None]:
        test, body, orelse = self.value(node.test), self.value(node.body), self.value(node.orelse)
        return (lambda scope: body(scope) if test(scope) else orelse(scope)), None

    def _call(self, node: ast.Call) -> tuple[Evaluator, None]:
        if isinstance(node.func, ast.Attribute):
            self.fail(node, "method calls are not allowed")
        if not isinstance(node.func, ast.Name):
            self.compile(node.func)  # reports a lambda or the like by name
            self.fail(node, "only the listed functions can be called")
        if node.func.id not in rt.FUNCTIONS:
            self.fail(node, f"function {node.func.id!r} is not allowed (allowed: {', '.join(rt.FUNCTIONS)})")
        fn, least, most = rt.FUNCTIONS[node.func.id]
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            self.fail(node, "keyword and star arguments are not allowed")
        if len(node.args) < least or (most is not None and len(node.args) > most):
            count = str(least) if most == least else f"{least} or more" if most is None else f"{least} to {most}"
            self.fail(node, f"{node.func.id}() takes {count} arguments")
        args = [self.value(a) for a in node.args]
        return (lambda scope: fn(*(a(scope) for a in args))), None

    def _list(self, node: ast.List | ast.Tuple) -> tuple[Evaluator, None]:
        items = [self.value(e) for e in node.elts]
        return (lambda scope: [i(scope) for i in items]), None


_HANDLERS: Final[dict[type[ast.AST], Callable[[_Compiler, Any], tuple[Evaluator, NameInfo | None]]]] = {
    ast.Constant: _Compiler._constant,
    ast.Name: _Compiler._name,
    ast.Attribute: _Compiler._attribute,
    ast.BinOp: _Compiler._bin_op,
    ast.UnaryOp: _Compiler._unary_op,
    ast.BoolOp: _Compiler._bool_op,
    ast.Compare: _Compiler._compare,
    ast.IfExp: _Compiler._if_exp,
    ast.Call: _Compiler._call,
    ast.List: _Compiler._list,
    ast.Tuple: _Compiler._list,
}


def _describe(node: ast.AST) -> str:
    names = {
        "Lambda": "lambda",
        "ListComp": "a comprehension",
        "SetComp": "a comprehension",
        "DictComp": "a comprehension",
        "GeneratorExp": "a generator",
        "Subscript": "subscripting",
        "NamedExpr": "assignment",
        "Await": "await",
        "Yield": "yield",
        "Starred": "star unpacking",
        "JoinedStr": "an f-string",
        "Dict": "a dict literal",
        "Set": "a set literal",
    }
    return names.get(type(node).__name__, type(node).__name__)
