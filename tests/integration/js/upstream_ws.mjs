// A Node client on the npm "ws" package for test_upstream.py: sends what
// the test names, one line of JSON per event on stdout.
//   node upstream_ws.mjs URL send SIZE   text, binary, fragmented, SIZE bytes
//   node upstream_ws.mjs URL toobig SIZE one message of SIZE bytes
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const WebSocket = require("ws");
const [url, scenario, sizeArg] = process.argv.slice(2);
const size = Number(sizeArg);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const ws = new WebSocket(url, { maxPayload: 0 });
const done = setTimeout(() => { say({ timeout: true }); process.exit(1); }, 20000);

ws.on("open", () => {
  say({ open: true });
  if (scenario === "send") {
    ws.send("node text \u00e9\u2603");
    ws.send(Buffer.from([0, 1, 2, 253, 254, 255]));
    // One message in three frames: fin only on the last.
    ws.send("frag-", { fin: false });
    ws.send("ment-", { fin: false });
    ws.send("ed", { fin: true });
    ws.send(Buffer.alloc(size, 0x61), { binary: true });
    ws.send("ping");
  } else if (scenario === "toobig") {
    ws.send(Buffer.alloc(size, 0x62), { binary: true });
  }
});
ws.on("message", (data, isBinary) => {
  say({ message: data.toString(), binary: isBinary });
  if (scenario === "send" && data.toString() === "pong") ws.close(1000);
});
ws.on("close", (code, reason) => {
  say({ close: code, reason: reason.toString() });
  clearTimeout(done);
});
ws.on("error", (e) => say({ error: String(e) }));
