// Plays the Cloudflare Durable Object runtime for a Python DO class running in
// Pyodide under Node. Driven by the tests over stdin/stdout, one JSON object a
// line: {"id": n, "op": "...", ...} in, {"id": n, "ok": true, "result": ...} or
// {"id": n, "ok": false, "error": "..."} out. See test_pyodide_chat.py.
//
// What it models (the parts of the Workers runtime the adapter touches):
// - WebSocketPair: server sockets with send/close/serializeAttachment/
//   deserializeAttachment/readyState; the client side records what it receives.
// - ctx: acceptWebSocket(ws, tags) (tags must be a real JS array),
//   getWebSockets(tag?) (CLOSING sockets included), getTags, id (with name, but
//   not on a cold alarm wake), storage (Promises; values must be structured-
//   cloneable JS values), blockConcurrencyWhile, waitUntil.
// - alarms: one per object, fired on command, retried after a failure with
//   alarm_info {retryCount, isRetry}; up to 6 retries.
// - env with DurableObjectNamespace bindings: idFromName/get/getByName, and
//   stub.fetch routed to the right object; each binding's class is found, as
//   the runtime finds it, by its own __name__ in the main module. Worker and DO fetch handlers get the
//   SDK's Request (workers_shim.py) around the JS Request.
// - hibernation: the Python instance is thrown away; the next event constructs
//   a new one over the same sockets and storage.
// - header values of a request to a DO split at commas (as before early 2026).
// - the close handshake of hibernatable sockets: the DO must answer a
//   client's close frame itself, or the socket stays CLOSING.
//
// Commands: boot (Pyodide, wheels, sources), py (run Python), main (load the
// Worker: its main module and wrangler's DO bindings), request (to the
// Worker; a 101 gives a client), fetch (straight to a DO stub), send / burst
// (client frames), close / answer_close / error (client side of closing),
// frames (what a client received), hibernate, alarm, inspect (an object's
// storage, alarm and sockets as the runtime holds them).

import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { serialize } from "node:v8";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "pyodide";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const protocolOut = process.stdout.write.bind(process.stdout);
// Anything else that prints (Python's print, console.log) goes to stderr.
console.log = (...args) => process.stderr.write(args.map(String).join(" ") + "\n");

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const MAX_TAGS = 10;
const MAX_TAG_LENGTH = 256;
const MAX_ATTACHMENT_BYTES = 16384;
const MAX_ALARM_RETRIES = 6;

let pyodide = null;
let pyGlobals = null;
let worker = null; // the Worker's entrypoint class (a PyProxy)
let mainModule = null; // the Worker's main module (a PyProxy)
let nextClientId = 1;
const clients = new Map(); // client id -> ClientSocket
const namespaces = new Map(); // binding name -> DurableObjectNamespace
const log = []; // runtime-visible misuse, reported to the tests

function kind(value) {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "function" || typeof value === "object") {
    const tag = Object.prototype.toString.call(value);
    const ctor = value.constructor?.name;
    return ctor ? `${tag} (${ctor})` : tag;
  }
  return typeof value;
}

function cloneValue(value, what) {
  // What the platform does with storage values and attachments: structured
  // clone. A PyProxy (a Python dict or list passed without to_js) is refused.
  try {
    return structuredClone(value);
  } catch (e) {
    throw new TypeError(`${what}: value is not structured-cloneable (${kind(value)}): ${e.message}`);
  }
}

function frameOf(data) {
  if (typeof data === "string") return { text: data };
  if (data instanceof ArrayBuffer) return { binary: Buffer.from(data).toString("base64") };
  if (ArrayBuffer.isView(data)) {
    return { binary: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64") };
  }
  throw new TypeError(`WebSocket.send: expected a string, ArrayBuffer or ArrayBufferView, got ${kind(data)}`);
}

class ClientSocket {
  constructor(id, server) {
    this.id = id;
    this.server = server;
    this.frames = [];
    this.read = 0;
    this.closed = null; // {close, reason} once the server's close frame arrived
    this.answered = false; // whether the client's answering close frame was reported
  }
}

class ServerSocket {
  constructor() {
    this.readyState = OPEN;
    this.client = null;
    this.attachment = undefined;
    this.accepted = false;
    this.tags = [];
    this.object = null; // the DurableObjectState that accepted it
  }

  send(data) {
    if (this.readyState !== OPEN) {
      throw new TypeError(`WebSocket.send after close (readyState ${this.readyState})`);
    }
    this.client.frames.push(frameOf(data));
  }

  close(code, reason) {
    if (this.readyState === CLOSED) throw new TypeError("WebSocket.close: already closed");
    if (code !== undefined && code !== null) {
      if (typeof code !== "number" || !(code === 1000 || (code >= 1001 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999))) {
        throw new TypeError(`WebSocket.close: invalid close code ${String(code)}`);
      }
    }
    if (reason !== undefined && reason !== null) {
      if (typeof reason !== "string") throw new TypeError(`WebSocket.close: reason must be a string, got ${kind(reason)}`);
      if (Buffer.byteLength(reason) > 123) throw new TypeError("WebSocket.close: reason longer than 123 bytes");
    }
    const frame = { close: code ?? 1005, reason: reason ?? "" };
    this.client.frames.push(frame);
    this.client.closed = frame;
    this.readyState = CLOSED;
  }

  serializeAttachment(value) {
    const copy = cloneValue(value, "serializeAttachment");
    const size = serialize(copy).length;
    if (size > MAX_ATTACHMENT_BYTES) {
      throw new RangeError(`serializeAttachment: ${size} bytes is over the ${MAX_ATTACHMENT_BYTES}-byte limit`);
    }
    this.attachment = copy;
  }

  deserializeAttachment() {
    return this.attachment === undefined ? null : structuredClone(this.attachment);
  }

  accept() {
    throw new TypeError("accept() is for sockets the Worker handles itself; a DO uses ctx.acceptWebSocket");
  }
}

class WebSocketPair {
  constructor() {
    const server = new ServerSocket();
    const client = new ClientSocket(null, server);
    server.client = client;
    this[0] = client;
    this[1] = server;
  }
}

class Response {
  constructor(body = null, init = undefined) {
    init = init ?? {};
    const status = init.status ?? 200;
    if (typeof status !== "number") throw new TypeError(`Response: status must be a number, got ${kind(status)}`);
    if (status === 101) {
      if (!(init.webSocket instanceof ClientSocket)) {
        throw new RangeError("Response: status 101 needs the client end of a WebSocketPair as webSocket");
      }
    } else if (status < 200 || status > 599) {
      throw new RangeError(`Response: status ${status} out of range`);
    }
    this.status = status;
    this.statusText = init.statusText ?? "";
    this.headers = new Headers(init.headers ?? undefined);
    this.webSocket = init.webSocket ?? null;
    this.ok = status >= 200 && status < 300;
    this.url = "";
    this.type = "default";
    this.bodyUsed = false;
    if (body === null || body === undefined) this._body = new Uint8Array(0);
    else if (typeof body === "string") this._body = new TextEncoder().encode(body);
    else if (body instanceof ArrayBuffer) this._body = new Uint8Array(body.slice(0));
    else if (ArrayBuffer.isView(body)) this._body = new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    else throw new TypeError(`Response: unsupported body ${kind(body)}`);
  }

  _take() {
    if (this.bodyUsed) throw new TypeError("Response: body already used");
    this.bodyUsed = true;
    return this._body;
  }

  async text() {
    return new TextDecoder().decode(this._take());
  }

  async json() {
    return JSON.parse(await this.text());
  }

  async arrayBuffer() {
    return this._take().slice().buffer;
  }

  static json(data, init = undefined) {
    const headers = new Headers(init?.headers ?? undefined);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return new Response(JSON.stringify(data), { ...(init ?? {}), headers });
  }
}

class DurableObjectId {
  constructor(hex, name) {
    this.hex = hex;
    if (name !== undefined) this.name = name;
  }
  toString() {
    return this.hex;
  }
  equals(other) {
    return other instanceof DurableObjectId && other.hex === this.hex;
  }
}

class DurableObjectStorage {
  constructor(object) {
    this.object = object;
  }

  _check(key) {
    if (typeof key !== "string") throw new TypeError(`storage: keys are strings, got ${kind(key)}`);
  }

  async get(keyOrKeys) {
    const data = this.object.data;
    if (Array.isArray(keyOrKeys)) {
      const out = new Map();
      for (const key of keyOrKeys) {
        this._check(key);
        if (data.has(key)) out.set(key, structuredClone(data.get(key)));
      }
      return out;
    }
    this._check(keyOrKeys);
    return data.has(keyOrKeys) ? structuredClone(data.get(keyOrKeys)) : undefined;
  }

  async list(options = undefined) {
    const prefix = options?.prefix ?? "";
    const keys = [...this.object.data.keys()].filter((k) => k.startsWith(prefix)).sort();
    return new Map(keys.map((k) => [k, structuredClone(this.object.data.get(k))]));
  }

  async put(keyOrEntries, value = undefined) {
    if (typeof keyOrEntries === "string") {
      if (value === undefined) throw new TypeError("storage.put: value is undefined");
      this.object.data.set(keyOrEntries, cloneValue(value, `storage.put(${JSON.stringify(keyOrEntries)})`));
      return;
    }
    if (keyOrEntries === null || typeof keyOrEntries !== "object" || Object.getPrototypeOf(keyOrEntries) !== Object.prototype) {
      throw new TypeError(`storage.put: expected a key or a plain object of entries, got ${kind(keyOrEntries)}`);
    }
    const staged = Object.entries(keyOrEntries).map(([k, v]) => [k, cloneValue(v, `storage.put(${JSON.stringify(k)})`)]);
    for (const [k, v] of staged) this.object.data.set(k, v);
  }

  async delete(keyOrKeys) {
    const data = this.object.data;
    if (Array.isArray(keyOrKeys)) {
      let n = 0;
      for (const key of keyOrKeys) {
        this._check(key);
        if (data.delete(key)) n += 1;
      }
      return n;
    }
    this._check(keyOrKeys);
    return data.delete(keyOrKeys);
  }

  async deleteAll() {
    // As before compat date 2026-02-24: the alarm survives deleteAll().
    this.object.data.clear();
    this.object.calls.push("deleteAll");
  }

  async getAlarm() {
    return this.object.alarm;
  }

  async setAlarm(when) {
    const ms = when instanceof Date ? when.getTime() : when;
    if (typeof ms !== "number" || !Number.isFinite(ms)) throw new TypeError(`storage.setAlarm: expected a number or Date, got ${kind(when)}`);
    this.object.alarm = ms;
  }

  async deleteAlarm() {
    this.object.alarm = null;
    this.object.calls.push("deleteAlarm");
  }

  async sync() {}
}

class DurableObjectState {
  constructor(object, withName) {
    this.object = object;
    this.id = new DurableObjectId(object.hex, withName ? object.name : undefined);
    this.storage = new DurableObjectStorage(object);
  }

  acceptWebSocket(ws, tags = undefined) {
    if (!(ws instanceof ServerSocket)) throw new TypeError(`acceptWebSocket: expected a WebSocket, got ${kind(ws)}`);
    if (ws.accepted) throw new TypeError("acceptWebSocket: this WebSocket was already accepted");
    let list = [];
    if (tags !== undefined && tags !== null) {
      if (!Array.isArray(tags)) throw new TypeError(`acceptWebSocket: tags must be an array of strings, got ${kind(tags)}`);
      if (tags.length > MAX_TAGS) throw new TypeError(`acceptWebSocket: at most ${MAX_TAGS} tags`);
      for (const tag of tags) {
        if (typeof tag !== "string") throw new TypeError(`acceptWebSocket: a tag must be a string, got ${kind(tag)}`);
        if (tag.length > MAX_TAG_LENGTH) throw new TypeError(`acceptWebSocket: tag longer than ${MAX_TAG_LENGTH}`);
      }
      list = [...tags];
    }
    ws.accepted = true;
    ws.tags = list;
    ws.object = this.object;
    this.object.sockets.push(ws);
  }

  getWebSockets(tag = undefined) {
    return this.object.sockets.filter((ws) => ws.readyState !== CLOSED && (tag === undefined || tag === null || ws.tags.includes(tag)));
  }

  getTags(ws) {
    if (!(ws instanceof ServerSocket) || !ws.accepted) throw new TypeError("getTags: not an accepted WebSocket");
    return [...ws.tags];
  }

  setWebSocketAutoResponse() {}

  getWebSocketAutoResponseTimestamp() {
    return null;
  }

  waitUntil(promise) {
    this.object.background.push(Promise.resolve(promise));
  }

  async blockConcurrencyWhile(fn) {
    return await fn();
  }
}

class ObjectInstance {
  // One Durable Object: its storage and sockets outlive its Python instances.
  constructor(namespace, name) {
    this.namespace = namespace;
    this.name = name;
    this.hex = Buffer.from(`${namespace.binding}:${name}`).toString("hex").padEnd(64, "0").slice(0, 64);
    this.data = new Map();
    this.alarm = null;
    this.alarmRetries = 0;
    this.sockets = [];
    this.background = [];
    this.calls = [];
    this.py = null; // Promise of the Python instance
    this.constructed = 0;
  }

  instance(withName = true) {
    if (this.py === null) {
      this.constructed += 1;
      const ctx = new DurableObjectState(this, withName);
      const env = this.namespace.env;
      this.py = Promise.resolve().then(() => this.namespace.pyClass()(ctx, env));
      this.py.catch(() => {
        this.py = null;
      });
    }
    return this.py;
  }

  hibernate() {
    const old = this.py;
    this.py = null;
    if (old) old.then((inst) => inst.destroy?.()).catch(() => {});
  }
}

class DurableObjectStub {
  constructor(object) {
    this.object = object;
    this.id = new DurableObjectId(object.hex, object.name);
    this.name = object.name;
  }

  async fetch(input, init = undefined) {
    const sent = input instanceof Request && init === undefined ? input : new Request(input, init ?? undefined);
    // As runtimes before early 2026 did: header values split at commas, the first piece handed on.
    const headers = new Headers();
    for (const [name, value] of sent.headers) headers.set(name, value.split(",")[0]);
    const request = new Request(sent, { headers });
    const inst = await this.object.instance(true);
    const result = await inst.fetch(pythonRequest(request));
    const response = result?.js_object ?? result;
    if (!(response instanceof Response)) throw new TypeError(`DO fetch must return a Response, got ${kind(response)}`);
    return response;
  }
}

class DurableObjectNamespace {
  constructor(binding, className) {
    this.binding = binding;
    this.className = className;
    this.objects = new Map();
    this.env = null;
  }

  pyClass() {
    // As the runtime does for every new instance: the class is whatever the main
    // module holds under the exported class name.
    const cls = mainModule === null ? undefined : mainModule[this.className];
    if (typeof cls !== "function") {
      throw new TypeError(`There is no '${this.className}' class defined in the Python Worker's main module`);
    }
    return cls;
  }

  idFromName(name) {
    if (typeof name !== "string") throw new TypeError(`idFromName: expected a string, got ${kind(name)}`);
    return new DurableObjectId(this.object(name).hex, name);
  }

  object(name) {
    let obj = this.objects.get(name);
    if (!obj) {
      obj = new ObjectInstance(this, name);
      this.objects.set(name, obj);
    }
    return obj;
  }

  get(id) {
    if (!(id instanceof DurableObjectId)) throw new TypeError(`get: expected a DurableObjectId, got ${kind(id)}`);
    const obj = [...this.objects.values()].find((o) => o.hex === id.hex);
    if (!obj) throw new TypeError("get: unknown id");
    return new DurableObjectStub(obj);
  }

  getByName(name) {
    return this.get(this.idFromName(name));
  }
}

function pythonRequest(request) {
  // The runtime hands fetch handlers the SDK's Request, a wrapper of the JS one.
  return pyodide.pyimport("workers").Request(request);
}

// How the runtime finds a Python Worker's classes: the main module's public
// names (or its __all__) whose value subclasses the SDK's base class, each
// exported under the class's own __name__ (and later looked up by it).
const RUNTIME_EXPORTS = `
def __runtime_exports(module):
    import inspect, json
    import workers
    keys = module.__all__ if hasattr(module, "__all__") else [k for k in dir(module) if not k.startswith("_")]
    values = [getattr(module, k) for k in keys]
    def names(base):
        return [v.__name__ for v in values if inspect.isclass(v) and issubclass(v, base) and v is not base]
    return json.dumps({"durableObjects": names(workers.DurableObject), "workerEntrypoints": names(workers.WorkerEntrypoint)})
`;

// ---------------------------------------------------------------------------
// Commands

function object(cmd) {
  const ns = namespaces.get(cmd.binding);
  if (!ns) throw new Error(`no binding ${cmd.binding}`);
  return ns.object(cmd.name);
}

function client(cmd) {
  const c = clients.get(cmd.client);
  if (!c) throw new Error(`no client ${cmd.client}`);
  return c;
}

function listFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) {
      if (entry !== "__pycache__") out.push(...listFiles(full));
    } else if (entry.endsWith(".py")) {
      out.push(full);
    }
  }
  return out;
}

async function httpResult(response) {
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers.entries()),
    body: await response.text(),
  };
}

const commands = {
  async boot(cmd) {
    const started = performance.now();
    pyodide = await loadPyodide({
      indexURL: path.join(HERE, "node_modules", "pyodide") + path.sep,
      stdout: (s) => process.stderr.write(`[py] ${s}\n`),
      stderr: (s) => process.stderr.write(`[py] ${s}\n`),
    });
    const booted = performance.now();
    const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_path('purelib')");
    for (const wheel of cmd.wheels) {
      pyodide.unpackArchive(new Uint8Array(readFileSync(wheel)), "wheel", { extractDir: sitePackages });
    }
    // Sources that are not packaged (the examples, test modules), copied as files
    // under a directory on sys.path: {from: a file or directory, to: its path there}.
    const root = "/home/pyodide/src";
    for (const { from, to } of cmd.sources ?? []) {
      const files = statSync(from).isDirectory() ? listFiles(from) : [from];
      for (const file of files) {
        const rel = statSync(from).isDirectory() ? path.relative(from, file).split(path.sep).join("/") : "";
        const target = path.posix.join(root, to, rel);
        pyodide.FS.mkdirTree(path.posix.dirname(target));
        pyodide.FS.writeFile(target, readFileSync(file));
      }
    }
    // The Python Workers SDK stand-in, as a module on the path.
    const site = "/home/pyodide/shims";
    pyodide.FS.mkdirTree(`${site}/workers`);
    pyodide.FS.writeFile(`${site}/workers/workers_shim.py`, readFileSync(path.join(HERE, "workers_shim.py")));
    pyodide.FS.writeFile(`${site}/workers/asgi.py`, readFileSync(path.join(HERE, "workers_asgi_shim.py")));
    pyodide.FS.writeFile(`${site}/workers/__init__.py`, "from .workers_shim import *\n");
    globalThis.WebSocketPair = WebSocketPair;
    // The structured-clone size of a value, as the platform measures an attachment.
    globalThis.structuredCloneSize = (value) => serialize(cloneValue(value, "structuredCloneSize")).length;
    globalThis.Response = Response;
    // A DurableObjectState over a throwaway object, for checking the runtime's rules.
    globalThis.scratchDurableObjectState = () => new DurableObjectState(new ObjectInstance({ binding: "SCRATCH", env: {} }, "scratch"), true);
    pyGlobals = pyodide.globals.get("dict")();
    pyodide.runPython(`import sys; sys.path[:0] = [${JSON.stringify(site)}, ${JSON.stringify(root)}]`);
    pyodide.runPython(RUNTIME_EXPORTS);
    const version = pyodide.runPython("import sys; sys.version");
    return { python: version, pyodide: pyodide.version, boot_ms: Math.round(booted - started), load_ms: Math.round(performance.now() - booted) };
  },

  async py(cmd) {
    // Run Python (top-level await allowed) in the harness's namespace; the value
    // of the last expression must be a str (the tests send json.dumps(...)).
    const value = await pyodide.runPythonAsync(cmd.code, { globals: pyGlobals });
    if (value === undefined) return null;
    if (typeof value !== "string") throw new TypeError(`py: the last expression must be a str, got ${kind(value)}`);
    return value;
  },

  async main(cmd) {
    // Load the Worker as the runtime does: import the main module cmd.module,
    // export its Durable Object classes under their own __name__ (the public
    // names of the module, or its __all__, whose value is a DurableObject
    // subclass), bind each of cmd.bindings ({name, class_name}, wrangler's) to
    // the exported class of that name, and take `Default` as the entrypoint.
    const module = pyodide.pyimport(cmd.module);
    const exported = JSON.parse(pyodide.globals.get("__runtime_exports")(module));
    for (const { name, class_name } of cmd.bindings) {
      if (!exported.durableObjects.includes(class_name)) {
        throw new Error(
          `A DurableObjectNamespace in the config referenced the class "${class_name}", but no such Durable Object ` +
            `class is exported from the worker (binding ${name}; exported: ${JSON.stringify(exported.durableObjects)})`,
        );
      }
    }
    mainModule = module;
    const env = {};
    globalThis.__env = env;
    namespaces.clear();
    for (const { name, class_name } of cmd.bindings) {
      const ns = new DurableObjectNamespace(name, class_name);
      ns.env = env;
      env[name] = ns;
      namespaces.set(name, ns);
    }
    pyGlobals.set("js_env", env);
    worker = module.Default;
    if (typeof worker !== "function") throw new TypeError(`the main module ${cmd.module} has no class Default`);
    return exported;
  },

  async fetch(cmd) {
    // A request to the object named cmd.name, as a Worker's stub.fetch would send it.
    const stub = namespaces.get(cmd.binding).getByName(cmd.name);
    const init = { method: cmd.method ?? "GET", headers: cmd.headers ?? {} };
    if (cmd.body !== undefined) init.body = cmd.body;
    const response = await stub.fetch(cmd.url, init);
    if (response.status === 101) throw new Error("fetch: got an upgrade; use connect");
    return await httpResult(response);
  },

  async request(cmd) {
    // A request to the Worker (a new entrypoint instance per request, as the
    // runtime does). A 101 answer hands over the client end of a WebSocket.
    const headers = { ...(cmd.headers ?? {}) };
    if (cmd.websocket) Object.assign(headers, { upgrade: "websocket", connection: "Upgrade" });
    const init = { method: cmd.method ?? "GET", headers };
    if (cmd.body !== undefined) init.body = cmd.body;
    const ctx = { waitUntil: () => {}, passThroughOnException: () => {} };
    const entry = worker(ctx, globalThis.__env);
    const result = await entry.fetch(pythonRequest(new Request(cmd.url, init)));
    const response = result?.js_object ?? result;
    if (!(response instanceof Response)) throw new TypeError(`Worker fetch must return a Response, got ${kind(response)}`);
    if (response.status !== 101) return { client: null, ...(await httpResult(response)) };
    const end = response.webSocket;
    const server = end.server;
    if (!server.accepted) throw new Error("the Worker answered 101 but no Durable Object accepted the server end");
    end.id = nextClientId++;
    clients.set(end.id, end);
    return { client: end.id, status: 101, tags: [...server.tags] };
  },

  async send(cmd) {
    // A frame from the client: a string, or bytes (base64) delivered as an ArrayBuffer.
    const c = client(cmd);
    const server = c.server;
    if (server.readyState !== OPEN) throw new Error(`send: socket is ${server.readyState}`);
    let message = cmd.text;
    if (cmd.binary !== undefined) {
      const bytes = Buffer.from(cmd.binary, "base64");
      message = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    }
    const inst = await server.object.instance(true);
    await inst.webSocketMessage(server, message);
    return null;
  },

  async burst(cmd) {
    // Several text frames from one client delivered back to back, the next one
    // before the handler of the previous one has finished (as the runtime may).
    const c = client(cmd);
    const server = c.server;
    const inst = await server.object.instance(true);
    await Promise.all(cmd.texts.map((text) => inst.webSocketMessage(server, text)));
    return null;
  },

  async close(cmd) {
    // The client closes: a clean close frame (code, reason), or the connection
    // drops (clean: false, code 1006). The DO must answer a close frame itself.
    const c = client(cmd);
    const server = c.server;
    if (server.readyState !== OPEN) throw new Error(`close: socket is ${server.readyState}`);
    const clean = cmd.clean ?? true;
    const code = clean ? cmd.code ?? 1000 : 1006;
    const reason = clean ? cmd.reason ?? "" : "";
    server.readyState = clean ? CLOSING : CLOSED;
    const inst = await server.object.instance(true);
    await inst.webSocketClose(server, code, reason, clean);
    return { answered: c.closed, readyState: server.readyState };
  },

  async answer_close(cmd) {
    // The client answers a close the Durable Object started: its close frame
    // reaches the runtime, which reports it with webSocketClose, possibly long
    // after (and after a hibernation).
    const c = client(cmd);
    const server = c.server;
    if (c.closed === null || server.readyState !== CLOSED) throw new Error("answer_close: the server has not closed this socket");
    if (c.answered) throw new Error("answer_close: already answered");
    c.answered = true;
    const inst = await server.object.instance(true);
    await inst.webSocketClose(server, c.closed.close, c.closed.reason, true);
    return null;
  },

  async error(cmd) {
    const c = client(cmd);
    const server = c.server;
    server.readyState = CLOSED;
    const inst = await server.object.instance(true);
    await inst.webSocketError(server, new Error(cmd.message ?? "network error"));
    return null;
  },

  async frames(cmd) {
    // What the client received since the last read.
    const c = client(cmd);
    const out = c.frames.slice(c.read);
    c.read = c.frames.length;
    return out;
  },

  async hibernate(cmd) {
    const obj = object(cmd);
    obj.hibernate();
    return { constructed: obj.constructed };
  },

  async alarm(cmd) {
    // Fire the object's alarm once, as the runtime would when it is due. A cold
    // object is woken without ctx.id.name. A failure keeps the alarm for a retry.
    const obj = object(cmd);
    if (obj.alarm === null) return { ran: false, alarm: null };
    const scheduled = obj.alarm;
    const retryCount = obj.alarmRetries;
    const info = { retryCount, isRetry: retryCount > 0 };
    obj.alarm = null;
    const cold = obj.py === null;
    try {
      const inst = await obj.instance(!cold);
      await inst.alarm(info);
      obj.alarmRetries = 0;
      return { ran: true, ok: true, cold, info, alarm: obj.alarm };
    } catch (e) {
      if (retryCount < MAX_ALARM_RETRIES) {
        obj.alarmRetries = retryCount + 1;
        if (obj.alarm === null) obj.alarm = scheduled;
      } else {
        obj.alarmRetries = 0;
      }
      return { ran: true, ok: false, cold, info, error: String(e?.message ?? e), alarm: obj.alarm };
    }
  },

  async inspect(cmd) {
    // The runtime's view of one object: storage (JSON where it can), alarm, sockets.
    const obj = object(cmd);
    const storage = {};
    for (const [k, v] of obj.data) {
      storage[k] = v instanceof Map ? { map: Object.fromEntries(v) } : v;
    }
    await Promise.all(obj.background);
    return {
      storage,
      alarm: obj.alarm,
      alarmRetries: obj.alarmRetries,
      constructed: obj.constructed,
      calls: obj.calls,
      sockets: obj.sockets.map((ws) => ({
        client: ws.client.id,
        readyState: ws.readyState,
        tags: ws.tags,
        attachment: ws.attachment === undefined ? null : ws.attachment,
      })),
    };
  },
};

// ---------------------------------------------------------------------------
// The loop: one command at a time, in order.

function reply(obj) {
  protocolOut(JSON.stringify(obj) + "\n");
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    reply({ id: null, ok: false, error: `bad command: ${e.message}` });
    continue;
  }
  if (cmd.op === "exit") {
    reply({ id: cmd.id, ok: true, result: null });
    break;
  }
  const handler = commands[cmd.op];
  if (!handler) {
    reply({ id: cmd.id, ok: false, error: `unknown op ${cmd.op}` });
    continue;
  }
  const started = performance.now();
  try {
    const result = await handler(cmd);
    reply({ id: cmd.id, ok: true, result: result ?? null, ms: Math.round(performance.now() - started) });
  } catch (e) {
    reply({ id: cmd.id, ok: false, error: String(e?.message ?? e), ms: Math.round(performance.now() - started) });
  }
}
process.exit(0);
