// wspubsub.js -- a client for wspubsub's subprotocol wspubsub.v1: message
// ids, resuming after a reconnect, and reconnecting with backoff.
//
// A dependency-free ES module for browsers and for Node 22's global
// WebSocket.  Usage:
//
//   import { WspubsubClient } from "./wspubsub.js";
//   const c = new WspubsubClient("wss://push.example.com/ws", { user: "alice" });
//   c.onmessage = (data, id) => { ... };   // data: string or Uint8Array
//   c.ongap = () => { ... };               // some messages were lost
//   c.onstatechange = (state) => { ... };  // connecting, open, waiting, closed
//   c.onclose = (code, reason) => { ... }; // each close, before a retry
//   c.connect();
//
// The server sends every message as a header, a blank line, then the
// payload: "id: ID\n\n<payload>" for a message published with
// wspubsub_publish, "\n<payload>" for a plain PUBLISH.  The client keeps
// the last id and reconnects with ?since=ID; the server answers
// "event: recovered" or "event: gap", then the missed messages, then live
// ones.  See "Client protocol" in wspubsub's README.

export const PROTOCOL = "wspubsub.v1";

// Close codes after which reconnecting cannot help: the request itself is
// wrong (1008: a bad user name or since, an expired token).
const FINAL_CODES = new Set([1008]);
// HTTP answers that say the same of the handshake.  A browser does not
// show them: a refused handshake (400, 401, 403) looks like a server that
// is down (1006), so in a browser the client keeps retrying, with its
// backoff, until close(); Node's ws package names the status.
const FINAL_STATUS = /\b(400|401|403)\b/;

const decoder = new TextDecoder("utf-8");

// Split a wspubsub.v1 message into its header fields and its payload.
// data is a string (a text frame) or an ArrayBuffer/Uint8Array (binary);
// the payload keeps that type.  Returns null when data is not a message.
export function parseMessage(data) {
  let head, payload;
  if (typeof data === "string") {
    const end = data.startsWith("\n") ? 0 : data.indexOf("\n\n");
    if (end < 0) return null;
    head = data.slice(0, end);
    payload = data.slice(end === 0 ? 1 : end + 2);
  } else {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    let end = -1;
    if (bytes[0] === 10) end = 0;
    else
      for (let i = 0; i + 1 < bytes.length; i++)
        if (bytes[i] === 10 && bytes[i + 1] === 10) { end = i; break; }
    if (end < 0) return null;
    head = decoder.decode(bytes.subarray(0, end));
    payload = bytes.subarray(end === 0 ? 1 : end + 2);
  }
  const fields = {};
  for (const line of head.split("\n")) {
    const colon = line.indexOf(": ");
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 2);
  }
  return { fields, payload };
}

export class WspubsubClient {
  // url: ws:// or wss:// address of wspubsub (any path).
  // options.user: the user name (sent as ?user=); leave it out when a
  //   token in the URL (?access_token=) names the user.
  // options.since: an id to resume from on the first connection.
  // options.minDelay, maxDelay (ms): the backoff between attempts, full
  //   jitter, doubling up to maxDelay (default 500 and 30000).
  // options.stableAfter (ms): a connection open this long resets the
  //   backoff (default 10000).
  // options.connectTimeout (ms): an attempt not open by then is given up
  //   and retried (default 10000).
  // options.WebSocket: the WebSocket class (default the global one).
  constructor(url, options = {}) {
    this.url = url;
    this.user = options.user;
    this.lastId = options.since || null;
    this.minDelay = options.minDelay ?? 500;
    this.maxDelay = options.maxDelay ?? 30000;
    this.stableAfter = options.stableAfter ?? 10000;
    this.connectTimeout = options.connectTimeout ?? 10000;
    this.WebSocket = options.WebSocket || globalThis.WebSocket;
    this.state = "closed";
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.stableTimer = null;
    this.onmessage = () => {};
    this.ongap = () => {};
    this.onrecovered = () => {};
    this.onstatechange = () => {};
    this.onclose = () => {};
  }

  // Send a message to the server (the text "ping" is answered "pong").
  send(data) {
    if (this.ws && this.state === "open") this.ws.send(data);
  }

  connect() {
    if (this.ws || this.timer) return;
    this.stopped = false;
    this.open();
  }

  // Close for good (no reconnecting).
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.stableTimer);
    this.timer = null;
    if (this.ws) this.ws.close(1000, "bye");
    else this.setState("closed");
  }

  setState(state, detail) {
    if (state === this.state && detail === undefined) return;
    this.state = state;
    this.onstatechange(state, detail);
  }

  address() {
    const u = new URL(this.url);
    if (this.user !== undefined) u.searchParams.set("user", this.user);
    if (this.lastId) u.searchParams.set("since", this.lastId);
    else u.searchParams.delete("since");
    return u.href;
  }

  open() {
    this.setState("connecting");
    let ws;
    try {
      ws = new this.WebSocket(this.address(), PROTOCOL);
    } catch (e) {
      this.setState("closed", String(e.message || e));
      return;
    }
    this.ws = ws;
    ws.binaryType = "arraybuffer";
    let opened = false, final = null;
    // A handshake that hangs (a half-open path, a stalled proxy) is given
    // up and retried like a refused one.
    const giveUp = setTimeout(() => {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try { ws.close(); } catch (e) { /* still connecting */ }
      this.ws = null;
      this.onclose(1006, "connect timeout");
      this.retry();
    }, this.connectTimeout);
    ws.onopen = () => {
      clearTimeout(giveUp);
      opened = true;
      if (ws.protocol !== PROTOCOL) {
        final = "the server did not select " + PROTOCOL;
        ws.close(1000, "no " + PROTOCOL);
        return;
      }
      this.setState("open");
      this.stableTimer = setTimeout(() => { this.attempt = 0; },
                                    this.stableAfter);
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onerror = (ev) => {
      // Node's ws names a refused handshake's status; browsers do not.
      const msg = ev && (ev.message || (ev.error && ev.error.message));
      if (!opened && msg && FINAL_STATUS.test(msg)) final = msg;
    };
    ws.onclose = (ev) => {
      clearTimeout(giveUp);
      clearTimeout(this.stableTimer);
      this.ws = null;
      this.onclose(ev.code, ev.reason);
      if (FINAL_CODES.has(ev.code))
        final = "closed with " + ev.code + (ev.reason ? ": " + ev.reason : "");
      if (this.stopped || final) {
        this.setState("closed", final || undefined);
        return;
      }
      this.retry();
    };
  }

  retry() {
    // Full jitter: anywhere from 0 to the capped exponential delay.
    const cap = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt);
    const delay = Math.floor(Math.random() * cap);
    this.attempt = Math.min(this.attempt + 1, 30);
    this.setState("waiting", delay);
    this.timer = setTimeout(() => { this.timer = null; this.open(); }, delay);
  }

  receive(data) {
    const m = parseMessage(data);
    if (m === null) return;
    if (m.fields.event === "gap") { this.ongap(); return; }
    if (m.fields.event === "recovered") { this.onrecovered(); return; }
    if (m.fields.event !== undefined) return;   // for a later version
    const id = m.fields.id || null;
    if (id !== null) this.lastId = id;
    this.onmessage(m.payload, id);
  }
}
