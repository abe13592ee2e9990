"""A compiled ``compute`` or ``when`` expression, as the engine evaluates it per message.

The compiler (gateway.mapping.load.expressions) turns the text into a tree of closures over
the operators of :mod:`gateway.mapping.run.operators`; nothing is ever passed to ``eval``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Scope = Mapping[str, Any]
Evaluator = Callable[[Scope], Any]


class ExpressionError(Exception):
    """An expression failed at run time; the message names the problem, never a value."""


@dataclass(frozen=True)
class Expression:
    source: str
    _run: Evaluator = field(repr=False)

    def evaluate(self, scope: Scope) -> Any:
        try:
            return self._run(scope)
        except ExpressionError:
            raise
        except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:
            # The exception text may quote operands (personal data): keep only its class.
            raise ExpressionError(f"evaluation failed ({exc.__class__.__name__})") from None
