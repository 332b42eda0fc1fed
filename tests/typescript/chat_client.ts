// A small client of the chat room, written against the generated types
// (rooms.d.ts, from `durable-effect schema examples.chat.registry:registry --typescript`)
// and the browser client's own types (client.d.ts).
import { ClientClosedError, SendBufferFullError, connect, roomPath } from "./client.js";
import type { ChatBroadcast, ChatConnection, ChatEvent, ChatRoom, ChatState } from "./rooms.js";

export function describe(msg: ChatBroadcast): string {
  switch (msg._tag) {
    case "Message":
      return `${msg.userId}: ${msg.text} at ${msg.ts.toFixed(0)}`;
    case "UserJoined":
      return `${msg.userId} joined`;
    case "UserLeft":
      return `${msg.userId} left`;
    case "Typing":
      return `${msg.userId} is typing`;
  }
}

export function online(connections: Array<{ id: string; state: ChatConnection }>): string[] {
  return connections.map((c) => c.state.userId);
}

export function count(state: ChatState | null): number {
  return state?.messageCount ?? 0;
}

export async function chat(name: string): Promise<string[]> {
  const seen: string[] = [];
  const conn = await connect<ChatRoom>(roomPath<ChatRoom>("chat", "lobby", { userId: name }), {
    maxBuffered: 100,
    onOpen: ({ reconnect }) => seen.push(reconnect ? "reconnected" : "open"),
    onClose: ({ code }) => seen.push(`closed ${code}`),
  });
  const say: ChatEvent = { _tag: "Say", text: "hello" };
  try {
    conn.send(say);
    conn.send({ _tag: "Typing" });
  } catch (err) {
    if (err instanceof SendBufferFullError) seen.push(`buffer of ${err.limit} is full`);
    else if (err instanceof ClientClosedError) seen.push(`closed: ${err.code ?? "?"}`);
    else throw err;
  }
  for await (const msg of conn) {
    seen.push(describe(msg));
    if (msg._tag === "Message" && msg.text === "bye") break;
  }
  conn.close(1000, "done");
  return seen;
}
