// client_check.mjs -- drives contrib/client/wspubsub.js in Node (the
// global WebSocket: Node 22, or Node 20 with --experimental-websocket)
// against a running wspubsub, for test_client_js.py.
//   node client_check.mjs WS_URL SCENARIO
// Prints one JSON line per event on stdout; the Python side publishes
// and checks.
import { WspubsubClient, parseMessage } from "../../../contrib/client/wspubsub.js";
import * as readline from "node:readline";

const [url, scenario] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

if (scenario === "parse") {
  const enc = new TextEncoder();
  out({ p: parseMessage("id: 5-1\n\nhello") });
  out({ p: parseMessage("\nid: 1\n\nx") });
  out({ p: parseMessage("no header") });
  const b = parseMessage(enc.encode("id: 5-2\n\n\u00ff").buffer);
  out({ p: { fields: b.fields, payload: Array.from(b.payload) } });
  process.exit(0);
}

const c = new WspubsubClient(url, {
  // "token": the token in the URL names the user.
  user: scenario === "token" ? undefined : "nodeuser",
  minDelay: 50, maxDelay: 200, stableAfter: 1000, connectTimeout: 2000,
});
c.onmessage = (data, id) =>
  out({ msg: typeof data === "string" ? data : Array.from(data), id });
c.ongap = () => out({ gap: true });
c.onrecovered = () => out({ recovered: true });
c.onclose = (code, reason) => out({ close: code, reason });
c.onstatechange = (state) => out({ state, lastId: c.lastId });
c.connect();

// "stop" on stdin ends it; so does a bound.
readline.createInterface({ input: process.stdin }).on("line", (l) => {
  if (l === "stop") { c.close(); setTimeout(() => process.exit(0), 100); }
});
setTimeout(() => process.exit(3), 30000);
