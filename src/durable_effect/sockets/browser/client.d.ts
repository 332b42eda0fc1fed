// Types of client.js. A room's types come from `durable-effect schema --typescript`:
//
//   import { connect, roomPath } from "./client.js";
//   import type { ChatRoom } from "./rooms.js";  // the generated .d.ts
//   const conn = await connect<ChatRoom>(roomPath("chat", "lobby", { userId: "ann" }));
//   conn.send({ _tag: "Say", text: "hi" });     // checked against ChatEvent
//   for await (const msg of conn) msg.userId;   // a ChatBroadcast

/** What the generated `<Name>Room` interfaces give: a room's wire types. */
export interface RoomTypes {
  name: string;
  event: { _tag: string };
  broadcast: { _tag: string };
  connection: unknown;
  state: unknown;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export interface ConnectOptions<R extends RoomTypes = RoomTypes> {
  /** Reconnect after a dropped connection (default true). */
  reconnect?: boolean;
  /** First reconnect delay in milliseconds, doubled per attempt with jitter (default 100). */
  minBackoff?: number;
  /** Longest reconnect delay in milliseconds (default 10000). */
  maxBackoff?: number;
  /** Sends kept while disconnected before `send` throws SendBufferFullError (default 1000). */
  maxBuffered?: number;
  protocols?: string | string[];
  /** The WebSocket class to use (default: the global one). */
  WebSocket?: new (url: string, protocols?: string | string[]) => WebSocket;
  /** Each broadcast; when given, broadcasts go here instead of `recv()` and the iterator. */
  onMessage?: (message: R["broadcast"]) => void;
  /** Each open: the first, and after every reconnect. */
  onOpen?: (info: { reconnect: boolean }) => void;
  /** A drop the client will reconnect after. */
  onDisconnect?: (info: CloseInfo) => void;
  /** Closed for good. */
  onClose?: (info: CloseInfo) => void;
}

/** Close codes after which the client does not reconnect: 1000, 1008, 1012. */
export declare const FINAL_CLOSE_CODES: readonly number[];

export declare class ClientClosedError extends Error {
  readonly _tag: "ClientClosedError";
  readonly code: number | null;
  readonly reason: string;
  constructor(code: number | null, reason?: string);
}

export declare class SendBufferFullError extends Error {
  readonly _tag: "SendBufferFullError";
  readonly limit: number;
  constructor(limit: number);
}

export declare class ConnectError extends Error {
  readonly _tag: "ConnectError";
  constructor(message: string);
}

export declare class RoomConnection<R extends RoomTypes = RoomTypes> implements AsyncIterable<R["broadcast"]> {
  constructor(url: string | URL, options?: ConnectOptions<R>);
  readonly url: string;
  readonly state: "connecting" | "open" | "closed";
  readonly closeCode: number | null;
  readonly closeReason: string;
  /** How many times the connection was made again after a drop. */
  readonly reconnects: number;
  /** How many sends wait for the next open. */
  readonly buffered: number;
  /** Resolves once closed for good. */
  readonly closed: Promise<CloseInfo>;
  /** Resolves once the first connection is open. */
  start(): Promise<this>;
  /** Send an event; while reconnecting it waits in a bounded buffer. */
  send(event: R["event"]): void;
  /** The next broadcast; rejects with ClientClosedError once closed for good. */
  recv(): Promise<R["broadcast"]>;
  [Symbol.asyncIterator](): AsyncIterator<R["broadcast"]>;
  /** Close for good; pending sends are dropped. */
  close(code?: number, reason?: string): void;
}

/** `/ws/{room}/{id}?query`: the WebSocket route of a room instance. */
export declare function roomPath<R extends RoomTypes = RoomTypes>(
  room: R["name"],
  id: string,
  query?: Record<string, string>,
): string;

/** Open a connection; resolves once open, rejects with ConnectError if the first attempt fails. */
export declare function connect<R extends RoomTypes = RoomTypes>(
  url: string | URL,
  options?: ConnectOptions<R>,
): Promise<RoomConnection<R>>;
