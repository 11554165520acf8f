"""The pydantic internals behind `optimize` still behave as the adapter expects."""

from __future__ import annotations

from pydantic import BaseModel, PrivateAttr

from optimization._pydantic_adapter import copied_as


class Plain(BaseModel):
    name: str
    size: int = 1


class WithState(Plain):
    _state: str | None = PrivateAttr(default=None)


def test_a_copy_moves_to_another_class_with_the_same_fields_and_a_private_attribute() -> None:
    plain = Plain(name="model", size=3)
    assert hasattr(plain, "__pydantic_private__"), "pydantic: __pydantic_private__ is gone"
    moved = copied_as(plain, WithState, private={"_state": "optimized"})
    assert type(moved) is WithState
    assert moved.model_dump() == plain.model_dump()
    assert moved._state == "optimized"
    assert moved.model_copy()._state == "optimized"  # pydantic copies private attributes
    back = copied_as(moved, Plain, private={"_state": None})
    assert type(back) is Plain
    assert back.__pydantic_private__ is None
    assert back == plain
