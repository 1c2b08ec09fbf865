// The reference Socket.IO server for retake-chat's interop tests: the official `socket.io`
// package (the version package-lock.json pins), set up the way retake.tv's chat server
// behaves (`joinRoom` puts a socket in a room, `message` events go out to the room), with
// retake.tv's REST side on the same port (history.js): the chat history of every room and
// the send endpoints, so one server stands in for both --chat-url and --api-url.
//
// Driven by the Rust tests (tests/support/interop.rs) over stdin, one JSON command per line:
//   {"id": 1, "cmd": "emit", "room": "r", "event": "message", "payload": {...}}
//                                               -> {"delivered": bool}; a `message` is kept
//                                               in the room's history, also while closed
//   {"id": 2, "cmd": "room", "room": "r"}       -> {"size": n, "clients": n}
//   {"id": 3, "cmd": "close"}                   io.close(): what a deploy of the server does
//   {"id": 4, "cmd": "listen"}                  a fresh server on the same port
//   {"id": 5, "cmd": "kick"}                    io.disconnectSockets(true)
//   {"id": 7, "cmd": "engine-close"}            an Engine.IO close packet to every client,
//                                               the websocket left open
//   {"id": 6, "cmd": "hold", "on": true}        complete the Engine.IO handshake but never
//                                               connect the namespace (a middleware that
//                                               never calls next)
//   {"id": 8, "cmd": "refuse", "on": true}      answer 503 to /socket.io/ (polling and
//                                               websocket) and cut every open connection;
//                                               the REST endpoints keep answering
//   {"id": 9, "cmd": "add-history", "room": "r", "payload": {...}}
//                                               kept in the history, not emitted
//   {"id": 10, "cmd": "sent"}                   -> {"sent": [{path, authorization, body, status}]}
//   {"id": 11, "cmd": "history-reads"}          -> {"reads": [{path, query, authorization,
//                                               status, returned}]}
// and answering on stdout, one JSON object per line: {"id": 1, "ok": true, ...} for each
// command, and unsolicited {"event": "listening" | "connection" | "join" | "disconnect", ...}.
//
// HTTP (history.js; tests/interop/README.md has the details):
//   GET  /api/agent/stream/comments?userDbId=&limit=&beforeId=       (v1)
//   GET  /api/v1/agent/stream/comments?userDbId=&limit=&beforeId=    (v2)
//   POST /api/agent/chat/send {userDbId, message}                     (v1)
//   POST /api/v1/agent/stream/chat/send {destination_user_id, message} (v2)
//
// Options: --port N (0: any free port), --ping-interval MS, --ping-timeout MS, --hold,
// --agent-name NAME and --agent-id ID (who an echoed send is from; TestAgent, room-1),
// --history-file PATH (the history kept there too, and read back on start).
// It listens on 127.0.0.1 only.

"use strict";

const http = require("node:http");
const readline = require("node:readline");
const { Server } = require("socket.io");
const { History, agentMessage } = require("./history.js");

const options = parseArgs(process.argv.slice(2));
let port = options.port;
let hold = options.hold;
let refusing = false;
let io = null;
// The http server under `io`: a request still arriving at a closed one is turned away.
let current = null;
// The platform's data outlives any one server: kept across close/listen (and, with
// --history-file, across a restart of this process).
const history = new History(options.historyFile);
const agent = { name: options.agentName, id: options.agentId };
// Every TCP connection of the current server, so `refuse` can cut them.
const connections = new Set();

function say(object) {
  process.stdout.write(JSON.stringify(object) + "\n");
}

function parseArgs(args) {
  const out = {
    port: 0,
    pingInterval: 25000,
    pingTimeout: 20000,
    hold: false,
    agentName: "TestAgent",
    agentId: "room-1",
    historyFile: null,
  };
  for (let i = 0; i < args.length; i++) {
    const number = () => {
      const value = Number(args[++i]);
      if (!Number.isInteger(value) || value < 0) {
        throw new Error(`${args[i - 1]} needs a whole number, got ${args[i]}`);
      }
      return value;
    };
    const text = () => {
      const value = args[++i];
      if (value === undefined || value === "") throw new Error(`${args[i - 1]} needs a value`);
      return value;
    };
    switch (args[i]) {
      case "--port": out.port = number(); break;
      case "--ping-interval": out.pingInterval = number(); break;
      case "--ping-timeout": out.pingTimeout = number(); break;
      case "--hold": out.hold = true; break;
      case "--agent-name": out.agentName = text(); break;
      case "--agent-id": out.agentId = text(); break;
      case "--history-file": out.historyFile = text(); break;
      default: throw new Error(`unknown option ${args[i]}`);
    }
  }
  return out;
}

function isSocketPath(url) {
  return url.startsWith("/socket.io/");
}

// An accepted send said in the room as the agent's own message; its payload for the history.
function echo(room, generation, text) {
  const payload = agentMessage(generation, room, text, agent);
  if (io) io.to(room).emit("message", payload);
  return payload;
}

// Everything but /socket.io/ (socket.io answers that before this is called).
function serveRest(req, res) {
  if (this !== current) {
    res.writeHead(503, { "content-type": "application/json", connection: "close" });
    res.end(JSON.stringify({ error: "this server is closed" }));
    return;
  }
  if (history.handle(req, res, echo)) return;
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: `no such endpoint: ${req.method} ${req.url}` }));
}

// socket.io takes over the server's `request` and `upgrade` listeners; put a gate in front
// of its own so `refuse` can turn the Socket.IO side away while REST keeps answering.
function gate(httpServer) {
  const requests = httpServer.listeners("request");
  httpServer.removeAllListeners("request");
  httpServer.on("request", (req, res) => {
    if (refusing && isSocketPath(req.url)) {
      res.writeHead(503, { "content-type": "text/plain", connection: "close" });
      res.end("the Socket.IO side is refusing connections\n");
      return;
    }
    for (const listener of requests) listener.call(httpServer, req, res);
  });
  const upgrades = httpServer.listeners("upgrade");
  httpServer.removeAllListeners("upgrade");
  httpServer.on("upgrade", (req, socket, head) => {
    if (refusing) {
      socket.end("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    for (const listener of upgrades) listener.call(httpServer, req, socket, head);
  });
  httpServer.on("connection", (socket) => {
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
  });
}

function listen() {
  return new Promise((resolve, reject) => {
    const httpServer = http.createServer(serveRest);
    const server = new Server(httpServer, {
      pingInterval: options.pingInterval,
      pingTimeout: options.pingTimeout,
    });
    gate(httpServer);
    server.use((socket, next) => {
      if (!hold) next();
    });
    server.on("connection", (socket) => {
      say({ event: "connection", sid: socket.id, query: socket.handshake.query });
      socket.on("joinRoom", (data) => {
        const room = data && data.roomId;
        if (typeof room !== "string") return;
        socket.join(room);
        socket.emit("joinedRoom", { roomId: room });
        say({ event: "join", room, sid: socket.id });
      });
      socket.on("leaveRoom", (data) => {
        if (data && typeof data.roomId === "string") socket.leave(data.roomId);
      });
      socket.on("disconnect", (reason) => say({ event: "disconnect", sid: socket.id, reason }));
    });
    httpServer.once("error", reject);
    httpServer.listen(port, "127.0.0.1", () => {
      port = httpServer.address().port;
      io = server;
      current = httpServer;
      say({ event: "listening", port, pid: process.pid });
      resolve({});
    });
  });
}

// Commands that need a listening server; the rest also work while it is closed.
const needsServer = new Set(["room", "close", "kick", "engine-close"]);

const commands = {
  async emit({ room, event, payload }) {
    if (typeof room !== "string" || typeof event !== "string") {
      throw new Error("emit needs a room and an event (strings)");
    }
    if (event === "message") history.record(room, payload);
    if (io) io.to(room).emit(event, payload);
    return { delivered: Boolean(io) };
  },
  async room({ room }) {
    const sockets = io.sockets.adapter.rooms.get(room);
    return { size: sockets ? sockets.size : 0, clients: io.engine.clientsCount };
  },
  // Answered at once: the port is free and the close frames are on their way, but the old
  // connections end only when each client closes its side (or after ws's 30 s timeout),
  // which is what the test is watching for.
  async close() {
    const closing = io;
    io = null;
    current = null;
    closing.close();
    return {};
  },
  listen,
  async kick() {
    io.disconnectSockets(true);
    return {};
  },
  async "engine-close"() {
    for (const client of Object.values(io.engine.clients)) client.sendPacket("close");
    return {};
  },
  async hold({ on }) {
    hold = Boolean(on);
    return {};
  },
  // Like a proxy that blocks websockets, or a Socket.IO outage with the REST API up. Open
  // connections are cut (REST clients simply reconnect), so a connected client notices now.
  async refuse({ on }) {
    refusing = Boolean(on);
    if (!refusing) return {};
    for (const socket of connections) socket.destroy();
    // Polling sessions hold no connection between requests: end them too.
    if (io) for (const client of Object.values(io.engine.clients)) client.close(true);
    return {};
  },
  async "add-history"({ room, payload }) {
    if (typeof room !== "string") throw new Error("add-history needs a room (a string)");
    return { seq: history.record(room, payload).seq };
  },
  async sent() {
    return { sent: history.sent };
  },
  async "history-reads"() {
    return { reads: history.reads };
  },
};

async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    say({ ok: false, error: `not JSON: ${line}` });
    return;
  }
  const command = commands[request.cmd];
  try {
    if (!command) throw new Error(`unknown command ${request.cmd}`);
    if (!io && needsServer.has(request.cmd)) {
      throw new Error(`no server is listening (${request.cmd})`);
    }
    const answer = await command(request);
    say({ id: request.id, ok: true, ...answer });
  } catch (error) {
    say({ id: request.id, ok: false, error: String(error && error.message) });
  }
}

// Commands run one after another, in the order they were sent.
let chain = Promise.resolve();
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  chain = chain.then(() => handle(line));
});
// The test that started us is gone: so are we.
process.stdin.on("end", () => process.exit(0));

listen().catch((error) => {
  process.stderr.write(`cannot listen on 127.0.0.1:${port}: ${error.message}\n`);
  process.exit(2);
});
