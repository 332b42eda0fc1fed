"""1. Declare the room.

The wire speaks camelCase like the TypeScript original (`{"_tag": "Message",
"userId": ...}`); Python code keeps snake_case names (`msg.user_id`), mapped
by pydantic aliases.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from durable_effect.sockets import Schema, SocketRegistry, TaggedStruct, WebSocketRoom

CAMEL = ConfigDict(alias_generator=to_camel, populate_by_name=True)
"""Wire names in camelCase; Python names (and either on input) still work."""


class ChatState(BaseModel):
    model_config = CAMEL

    created_at: float
    message_count: int


class ChatConnection(BaseModel):
    model_config = CAMEL

    user_id: str
    joined_at: float


class Say(TaggedStruct, tag="Say"):
    text: str


class Typing(TaggedStruct, tag="Typing"):
    pass


class Message(TaggedStruct, tag="Message"):
    model_config = CAMEL

    text: str
    user_id: str
    ts: float


class UserJoined(TaggedStruct, tag="UserJoined"):
    model_config = CAMEL

    user_id: str


class UserLeft(TaggedStruct, tag="UserLeft"):
    model_config = CAMEL

    user_id: str


class TypingBroadcast(TaggedStruct, tag="Typing"):
    model_config = CAMEL

    user_id: str


Chat = WebSocketRoom.make(
    "chat",
    state=ChatState,
    connection=ChatConnection,
    event=Schema.union(Say, Typing),
    broadcast=Schema.union(Message, UserJoined, UserLeft, TypingBroadcast),
)

registry = SocketRegistry.make(Chat)
