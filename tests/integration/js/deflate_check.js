// deflate_check.js -- Node's ws package (npm's, in node_modules here)
// with perMessageDeflate against a running wspubsub, for test_deflate.py.
//   node deflate_check.js WS_URL COUNT
// Prints the extensions the server accepted, then each of COUNT messages
// as one JSON line; then sends 5000 bytes (ws compresses them) and a
// "ping", and prints {"pong": true} when the "pong" comes.
"use strict";
const WebSocket = require("ws");

const [url, count] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const ws = new WebSocket(url, { perMessageDeflate: true });
let n = 0;

ws.on("upgrade", (res) =>
  out({ extensions: res.headers["sec-websocket-extensions"] || "" }));
ws.on("message", (data, isBinary) => {
  const s = isBinary ? Array.from(data) : data.toString();
  if (n < Number(count)) {
    out({ msg: s });
    if (++n === Number(count)) {
      ws.send("y".repeat(5000));
      ws.send("ping", { compress: false });
    }
  } else if (s === "pong") {
    out({ pong: true });
    ws.close(1000);
  }
});
// Not process.exit() at the close: stdout, a pipe, may not be written
// out yet; the process ends once nothing is left to do.
const bound = setTimeout(() => process.exit(3), 25000);
ws.on("close", () => {
  process.exitCode = n === Number(count) ? 0 : 2;
  clearTimeout(bound);
});
ws.on("error", (e) => { process.stderr.write(String(e) + "\n"); process.exit(1); });
