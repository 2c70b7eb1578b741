// seed-pipeline, steps 4-5 of document 000: a Node.js server consumes the Kafka topic with
// kafkajs and pushes every event to the admin dashboards with Socket.IO.
//
//   PORT=3001 KAFKA_BROKERS=127.0.0.1:9092 node push.js
//
// Written the way kafkajs and Socket.IO show it: one consumer in a group, `eachMessage`, and
// `io.to(room).emit(...)`; a dashboard joins the room of the assessment it watches. Socket.IO
// keeps its defaults (no compression, ping every 25 s). Prints "ready" once the consumer has
// joined its group and the server listens.
"use strict";

const { createServer } = require("node:http");
const { Kafka, logLevel } = require("kafkajs");
const { Server } = require("socket.io");

const PORT = Number(process.env.PORT || 3001);
const BROKERS = (process.env.KAFKA_BROKERS || "127.0.0.1:9092").split(",");
const TOPIC = process.env.KAFKA_TOPIC || "assessment_activity";
const PARTITIONS = Number(process.env.KAFKA_PARTITIONS || 12);
// kafkajs waits up to 5 s for a fetch by default. Kafka answers a waiting fetch as soon as data
// arrives; Tansu (the broker used here) waits much of the time out, so keep it short.
const MAX_WAIT_MS = Number(process.env.KAFKA_MAX_WAIT_MS || 10);

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
});

async function main() {
  const kafka = new Kafka({ clientId: "dashboard-push", brokers: BROKERS, logLevel: logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] });
  await admin.disconnect();

  const consumer = kafka.consumer({ groupId: "dashboard-push", maxWaitTimeInMs: MAX_WAIT_MS });
  const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
  await consumer.connect();
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const event = JSON.parse(message.value.toString());
      io.to(`assessment:${event.assessmentId}`).emit("event", event);
    },
  });
  await joined;
  await new Promise((resolve) => http.listen(PORT, "127.0.0.1", resolve));
  console.log("ready");

  const stop = async () => {
    io.close();
    await consumer.disconnect();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
