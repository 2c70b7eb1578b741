// socketio-relay: the seeds' transport alone. Candidates emit each event over Socket.IO and the
// server relays it to the dashboards that joined the assessment's room. No storage, no
// acknowledgement, no scoring, no Kafka: the ceiling of what the transport can carry.
//
//   PORT=3002 node relay.js
//
// Socket.IO keeps its defaults (no compression, ping every 25 s). Prints "ready" once listening.
"use strict";

const { createServer } = require("node:http");
const { Server } = require("socket.io");

const PORT = Number(process.env.PORT || 3002);

const http = createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404, { "content-type": "application/json" });
  res.end(req.url === "/healthz" ? '{"status":"ok"}' : "{}");
});
const io = new Server(http, { serveClient: false });

io.on("connection", (socket) => {
  socket.on("subscribe", (assessmentId, ack) => {
    socket.join(`assessment:${assessmentId}`);
    if (typeof ack === "function") ack({ ok: true });
  });
  socket.on("event", (event) => {
    io.to(`assessment:${event.assessmentId}`).emit("event", event);
  });
});

http.listen(PORT, "127.0.0.1", () => console.log("ready"));

const stop = () => {
  io.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
