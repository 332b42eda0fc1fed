"""1. Declare the room."""

from __future__ import annotations

from pydantic import BaseModel

from durable_effect.sockets import Schema, SocketRegistry, TaggedStruct, WebSocketRoom


class ChatState(BaseModel):
    created_at: float
    message_count: int


class ChatConnection(BaseModel):
    user_id: str
    joined_at: float


class Say(TaggedStruct, tag="Say"):
    text: str


class Typing(TaggedStruct, tag="Typing"):
    pass


class Message(TaggedStruct, tag="Message"):
    text: str
    user_id: str
    ts: float


class UserJoined(TaggedStruct, tag="UserJoined"):
    user_id: str


class UserLeft(TaggedStruct, tag="UserLeft"):
    user_id: str


class TypingBroadcast(TaggedStruct, tag="Typing"):
    user_id: str


Chat = WebSocketRoom.make(
    "chat",
    state=ChatState,
    connection=ChatConnection,
    event=Schema.union(Say, Typing),
    broadcast=Schema.union(Message, UserJoined, UserLeft, TypingBroadcast),
)

registry = SocketRegistry.make(Chat)
