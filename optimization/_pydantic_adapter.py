"""The pydantic internals `optimize` relies on, in one place.

An optimized model is a shallow copy of a LangChain chat model (a pydantic model) moved into
another class of the same field layout, with one private attribute added or removed. pydantic
has no public API for changing an instance's class, so this writes `__class__` and
`__pydantic_private__` directly; `tests/optimization/test_pydantic_adapter.py` fails, naming
them, when a pydantic release changes that layout.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def copied_as(model: BaseModel, cls: type[M], *, private: dict[str, Any]) -> M:
    """A shallow copy of `model` (same field values) as an instance of `cls`.

    `private` updates the copy's private attributes; a None value removes one.
    """
    copy = model.model_copy()
    attributes = dict(copy.__pydantic_private__ or {})
    for name, value in private.items():
        if value is None:
            attributes.pop(name, None)
        else:
            attributes[name] = value
    object.__setattr__(copy, "__class__", cls)
    object.__setattr__(copy, "__pydantic_private__", attributes or None)
    return copy  # type: ignore[return-value]


__all__ = ["copied_as"]
