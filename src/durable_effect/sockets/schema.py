"""Schemas for the wire: `TaggedStruct` messages and `Schema.union` of them.

A `TaggedStruct` is a pydantic model whose JSON carries `"_tag"`, the name
that tells one message kind from another (`{"_tag": "Say", "text": "hi"}`).
`Schema.union(Say, Typing)` is a discriminated union on `_tag`; mypy sees it
as `UnionSchema[Say | Typing]`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Literal, TypeVar, Union, overload

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic._internal._model_construction import ModelMetaclass

from durable_effect.platform.instance import encode_model

__all__ = ["Schema", "TaggedStruct", "UnionSchema"]

T = TypeVar("T", bound="TaggedStruct")
T1 = TypeVar("T1", bound="TaggedStruct")
T2 = TypeVar("T2", bound="TaggedStruct")
T3 = TypeVar("T3", bound="TaggedStruct")
T4 = TypeVar("T4", bound="TaggedStruct")
T5 = TypeVar("T5", bound="TaggedStruct")
T6 = TypeVar("T6", bound="TaggedStruct")
T7 = TypeVar("T7", bound="TaggedStruct")
T8 = TypeVar("T8", bound="TaggedStruct")

TAG_FIELD = "_tag"
"""The wire name of the discriminator, always `"_tag"`."""


def _body_annotations(namespace: dict[str, Any]) -> dict[str, Any]:
    """The annotations a class body declared, as a dict.

    Before Python 3.14, and under `from __future__ import annotations`, the
    body leaves them in `__annotations__`. From 3.14 on (PEP 649/749) it
    leaves a function, `__annotate_func__`, that computes them on demand; it is
    evaluated here (names not defined yet become forward references, which
    pydantic resolves later), and replaced by the dict this returns.
    """
    if "__annotations__" in namespace:
        return dict(namespace["__annotations__"])
    annotate: Callable[[int], dict[str, Any]] | None = namespace.pop("__annotate_func__", None)
    if annotate is None:
        return {}
    try:
        return dict(annotate(1))  # annotationlib.Format.VALUE
    except NameError:
        annotationlib = importlib.import_module("annotationlib")  # only reached on 3.14+
        return dict(annotationlib.call_annotate_function(annotate, annotationlib.Format.FORWARDREF))


class _TaggedMeta(ModelMetaclass):
    def __new__(
        mcs,
        name: str,
        bases: tuple[type[Any], ...],
        namespace: dict[str, Any],
        tag: str | None = None,
        **kwargs: Any,
    ) -> type:
        if namespace.get("__module__") != __name__ or name != "TaggedStruct":
            value = tag if tag is not None else name
            annotations = _body_annotations(namespace)
            annotations["tag_"] = Literal[value]
            namespace["__annotations__"] = annotations
            namespace["tag_"] = Field(default=value, alias=TAG_FIELD, repr=False)
            namespace["_tag"] = value
        return super().__new__(mcs, name, bases, namespace, **kwargs)


class TaggedStruct(BaseModel, metaclass=_TaggedMeta):
    """A pydantic model whose JSON carries `"_tag"` (the class name unless
    given: `class Say(TaggedStruct, tag="chat.say")`)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    _tag: ClassVar[str]

    if TYPE_CHECKING:

        def __init_subclass__(cls, *, tag: str | None = None, **kwargs: Any) -> None: ...

    def to_json(self) -> str:
        """The wire form: fields as the model declares them, plus `"_tag"`."""
        return encode_model(self)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class UnionSchema(Generic[T]):
    """A discriminated union of `TaggedStruct` classes, keyed by `_tag`."""

    __slots__ = ("adapter", "by_tag", "member_types", "members", "validator")

    def __init__(self, members: tuple[type[TaggedStruct], ...]) -> None:
        if not members:
            raise ValueError("Schema.union needs at least one TaggedStruct class")
        by_tag: dict[str, type[TaggedStruct]] = {}
        for member in members:
            if not (isinstance(member, type) and issubclass(member, TaggedStruct)):
                raise TypeError(f"Schema.union members must be TaggedStruct classes, got {member!r}")
            if member._tag in by_tag:
                raise ValueError(f"two members of one union share the tag {member._tag!r}")
            by_tag[member._tag] = member
        self.members = members
        self.member_types = frozenset(members)
        self.by_tag = by_tag
        target: Any = members[0] if len(members) == 1 else Annotated[Union[members], Field(discriminator="tag_")]  # noqa: UP007
        self.adapter: TypeAdapter[T] = TypeAdapter(target)
        self.validator = self.adapter.validator

    def validate_json(self, data: str | bytes) -> T:
        """Decode one JSON message; raises `pydantic.ValidationError`."""
        decoded: T = self.validator.validate_json(data)  # the adapter's core validator: no keyword handling
        return decoded

    def validate(self, value: object) -> T:
        """Validate a Python value (a member instance or a dict)."""
        if isinstance(value, self.members):
            return value  # type: ignore[return-value]  # an instance of a member is a T
        return self.adapter.validate_python(value)

    def is_member(self, value: object) -> bool:
        # The exact class first: isinstance on a pydantic model class goes through ABCMeta.
        return type(value) in self.member_types or isinstance(value, self.members)

    def __repr__(self) -> str:
        return f"Schema.union({', '.join(m.__name__ for m in self.members)})"


class Schema:
    """Constructors for message schemas."""

    @overload
    @staticmethod
    def union(m1: type[T1], /) -> UnionSchema[T1]: ...
    @overload
    @staticmethod
    def union(m1: type[T1], m2: type[T2], /) -> UnionSchema[T1 | T2]: ...
    @overload
    @staticmethod
    def union(m1: type[T1], m2: type[T2], m3: type[T3], /) -> UnionSchema[T1 | T2 | T3]: ...
    @overload
    @staticmethod
    def union(m1: type[T1], m2: type[T2], m3: type[T3], m4: type[T4], /) -> UnionSchema[T1 | T2 | T3 | T4]: ...
    @overload
    @staticmethod
    def union(
        m1: type[T1], m2: type[T2], m3: type[T3], m4: type[T4], m5: type[T5], /
    ) -> UnionSchema[T1 | T2 | T3 | T4 | T5]: ...
    @overload
    @staticmethod
    def union(
        m1: type[T1], m2: type[T2], m3: type[T3], m4: type[T4], m5: type[T5], m6: type[T6], /
    ) -> UnionSchema[T1 | T2 | T3 | T4 | T5 | T6]: ...
    @overload
    @staticmethod
    def union(
        m1: type[T1], m2: type[T2], m3: type[T3], m4: type[T4], m5: type[T5], m6: type[T6], m7: type[T7], /
    ) -> UnionSchema[T1 | T2 | T3 | T4 | T5 | T6 | T7]: ...
    @overload
    @staticmethod
    def union(
        m1: type[T1],
        m2: type[T2],
        m3: type[T3],
        m4: type[T4],
        m5: type[T5],
        m6: type[T6],
        m7: type[T7],
        m8: type[T8],
        /,
    ) -> UnionSchema[T1 | T2 | T3 | T4 | T5 | T6 | T7 | T8]: ...
    @staticmethod
    def union(*members: type[TaggedStruct]) -> UnionSchema[Any]:
        """A discriminated union on `_tag` of the given `TaggedStruct` classes."""
        return UnionSchema(members)
