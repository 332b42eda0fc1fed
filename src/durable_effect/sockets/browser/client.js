// A browser client for rooms served by durable-effect: a plain ES module with
// no dependencies, served by the server at /_durable_effect/client.js.
//
//   import { connect, roomPath } from "/_durable_effect/client.js";
//   const conn = await connect(roomPath("chat", "lobby", { userId: "ann" }));
//   conn.send({ _tag: "Say", text: "hi" });
//   for await (const msg of conn) console.log(msg);
//
// It behaves like the Python client (durable_effect.sockets.client): after a
// dropped connection it reconnects with jittered exponential backoff, sends
// made while disconnected wait in a bounded buffer and go out in order on the
// next open, and it stops for good on a close it should not fight: 1000
// (normal), 1008 (policy), 1012 (replaced by a connection with the same id).
// Browsers hide the HTTP status of a refused upgrade, so a first connection
// that never opens rejects `connect` with a ConnectError; later failed
// attempts are retried (they look the same as a server that is restarting).

/** Close codes after which the client does not reconnect. */
export const FINAL_CLOSE_CODES = Object.freeze([1000, 1008, 1012]);

/** The connection is closed for good (by close() or a final close code). */
export class ClientClosedError extends Error {
  constructor(code, reason = "") {
    super(`connection closed (${code ?? "no code"}${reason ? `: ${reason}` : ""})`);
    this._tag = "ClientClosedError";
    this.code = code;
    this.reason = reason;
  }
}

/** Too many sends are waiting for a reconnect. */
export class SendBufferFullError extends Error {
  constructor(limit) {
    super(`${limit} sends are already waiting for a reconnect`);
    this._tag = "SendBufferFullError";
    this.limit = limit;
  }
}

/** The first connection could not be made. */
export class ConnectError extends Error {
  constructor(message) {
    super(message);
    this._tag = "ConnectError";
  }
}

/** The path of a room instance's WebSocket route: `/ws/{room}/{id}?query`. */
export function roomPath(room, id, query = {}) {
  const search = new URLSearchParams(query).toString();
  return `/ws/${encodeURIComponent(room)}/${encodeURIComponent(id)}${search ? `?${search}` : ""}`;
}

function wsUrl(url) {
  const base = globalThis.location?.href;
  const full = new URL(url, base);
  if (full.protocol === "http:") full.protocol = "ws:";
  if (full.protocol === "https:") full.protocol = "wss:";
  return full.href;
}

const DONE = Symbol("closed");

/** One client's connection to a room instance; made by `connect`. */
export class RoomConnection {
  #options;
  #WebSocket;
  #ws = null;
  #pending = [];
  #inbox = [];
  #waiting = [];
  #delay;
  #timer = null;
  #resolveClosed;

  constructor(url, options = {}) {
    this.url = wsUrl(url);
    this.#options = {
      reconnect: true,
      minBackoff: 100,
      maxBackoff: 10_000,
      maxBuffered: 1_000,
      ...options,
    };
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.#delay = this.#options.minBackoff;
    /** "connecting", "open" or "closed" (for good). */
    this.state = "connecting";
    this.closeCode = null;
    this.closeReason = "";
    /** How many times the connection was made again after a drop. */
    this.reconnects = 0;
    /** Resolves with `{ code, reason }` once closed for good. */
    this.closed = new Promise((resolve) => { this.#resolveClosed = resolve; });
  }

  /** How many sends wait for the next open. */
  get buffered() {
    return this.#pending.length;
  }

  /** Open the first connection; resolves once open, rejects with ConnectError. */
  start() {
    return new Promise((resolve, reject) => {
      this.#open({ resolve, reject });
    });
  }

  #open(first) {
    let opened = false;
    let ws;
    try {
      ws = new this.#WebSocket(this.url, this.#options.protocols);
    } catch (err) {
      if (first) first.reject(new ConnectError(`could not connect to ${this.url}: ${err}`));
      return;
    }
    ws.binaryType = "arraybuffer"; // a binary frame is JSON too, decoded as UTF-8
    this.#ws = ws;
    ws.addEventListener("open", () => {
      if (this.state === "closed") {
        ws.close(1000);
        return;
      }
      opened = true;
      this.state = "open";
      if (!first) this.reconnects += 1;
      this.#flush();
      this.#options.onOpen?.({ reconnect: !first });
      first?.resolve(this);
    });
    ws.addEventListener("message", (ev) => {
      this.#delay = this.#options.minBackoff;
      this.#deliver(ev.data);
    });
    ws.addEventListener("close", (ev) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      if (first && !opened) {
        this.#finish(ev.code, ev.reason);
        first.reject(new ConnectError(`could not connect to ${this.url} (close ${ev.code})`));
        return;
      }
      this.closeCode = ev.code;
      this.closeReason = ev.reason;
      if (this.state === "closed") return;
      if (opened && (!this.#options.reconnect || FINAL_CLOSE_CODES.includes(ev.code))) {
        this.#finish(ev.code, ev.reason);
        return;
      }
      if (opened) {
        this.state = "connecting";
        this.#options.onDisconnect?.({ code: ev.code, reason: ev.reason });
      }
      this.#retry();
    });
  }

  #retry() {
    const wait = this.#delay * (0.5 + Math.random() / 2);
    this.#delay = Math.min(this.#delay * 2, this.#options.maxBackoff);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.state !== "closed") this.#open(null);
    }, wait);
  }

  #deliver(data) {
    let msg;
    try {
      msg = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data));
    } catch {
      msg = undefined;
    }
    if (msg === null || typeof msg !== "object" || typeof msg._tag !== "string") {
      console.warn("durable-effect: dropping a message without a _tag", data);
      return;
    }
    if (this.#options.onMessage) {
      this.#options.onMessage(msg);
    } else if (this.#waiting.length) {
      this.#waiting.shift().resolve(msg);
    } else {
      this.#inbox.push(msg);
    }
  }

  #flush() {
    while (this.#pending.length && this.#ws && this.#ws.readyState === 1) {
      this.#ws.send(this.#pending.shift());
    }
  }

  #finish(code, reason) {
    this.state = "closed";
    this.closeCode = code;
    this.closeReason = reason;
    this.#pending.length = 0;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(new ClientClosedError(code, reason));
    this.#inbox.push(DONE);
    this.#options.onClose?.({ code, reason });
    this.#resolveClosed({ code, reason });
  }

  /** Send an event; while reconnecting it waits in a bounded buffer.
   * Throws ClientClosedError once closed, SendBufferFullError when the buffer is full. */
  send(event) {
    if (event === null || typeof event !== "object" || typeof event._tag !== "string") {
      throw new TypeError("an event is an object with a string _tag");
    }
    if (this.state === "closed") throw new ClientClosedError(this.closeCode, this.closeReason);
    const frame = JSON.stringify(event);
    if (this.state === "open" && !this.#pending.length && this.#ws?.readyState === 1) {
      this.#ws.send(frame);
      return;
    }
    if (this.#pending.length >= this.#options.maxBuffered) throw new SendBufferFullError(this.#options.maxBuffered);
    this.#pending.push(frame);
  }

  /** The next broadcast; rejects with ClientClosedError once closed for good. */
  recv() {
    if (this.#inbox.length) {
      const msg = this.#inbox[0];
      if (msg === DONE) return Promise.reject(new ClientClosedError(this.closeCode, this.closeReason));
      return Promise.resolve(this.#inbox.shift());
    }
    if (this.state === "closed") return Promise.reject(new ClientClosedError(this.closeCode, this.closeReason));
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  async *[Symbol.asyncIterator]() {
    while (true) {
      try {
        yield await this.recv();
      } catch (err) {
        if (err instanceof ClientClosedError) return;
        throw err;
      }
    }
  }

  /** Close for good; pending sends are dropped. */
  close(code = 1000, reason = "") {
    if (this.state === "closed") return;
    const ws = this.#ws;
    this.#ws = null;
    this.#finish(code, reason);
    ws?.close(code, reason);
  }
}

/** Open a connection to `url` (a `/ws/{room}/{id}` route; relative to the page,
 * http(s) URLs become ws(s)). Resolves once open. */
export function connect(url, options = {}) {
  return new RoomConnection(url, options).start();
}
