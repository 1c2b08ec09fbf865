// The reference Socket.IO server for retake-chat's interop tests: the official `socket.io`
// package (the version package-lock.json pins), set up the way retake.tv's chat server
// behaves (`joinRoom` puts a socket in a room, `message` events go out to the room).
//
// Driven by the Rust tests (tests/support/interop.rs) over stdin, one JSON command per line:
//   {"id": 1, "cmd": "emit", "room": "r", "event": "message", "payload": {...}}
//   {"id": 2, "cmd": "room", "room": "r"}       -> {"size": n, "clients": n}
//   {"id": 3, "cmd": "close"}                   io.close(): what a deploy of the server does
//   {"id": 4, "cmd": "listen"}                  a fresh server on the same port
//   {"id": 5, "cmd": "kick"}                    io.disconnectSockets(true)
//   {"id": 7, "cmd": "engine-close"}            an Engine.IO close packet to every client,
//                                               the websocket left open
//   {"id": 6, "cmd": "hold", "on": true}        complete the Engine.IO handshake but never
//                                               connect the namespace (a middleware that
//                                               never calls next)
// and answering on stdout, one JSON object per line: {"id": 1, "ok": true, ...} for each
// command, and unsolicited {"event": "listening" | "connection" | "join" | "disconnect", ...}.
//
// Options: --port N (0: any free port), --ping-interval MS, --ping-timeout MS, --hold.
// It listens on 127.0.0.1 only.

"use strict";

const http = require("node:http");
const readline = require("node:readline");
const { Server } = require("socket.io");

const options = parseArgs(process.argv.slice(2));
let port = options.port;
let hold = options.hold;
let io = null;

function say(object) {
  process.stdout.write(JSON.stringify(object) + "\n");
}

function parseArgs(args) {
  const out = { port: 0, pingInterval: 25000, pingTimeout: 20000, hold: false };
  for (let i = 0; i < args.length; i++) {
    const number = () => {
      const value = Number(args[++i]);
      if (!Number.isInteger(value) || value < 0) {
        throw new Error(`${args[i - 1]} needs a whole number, got ${args[i]}`);
      }
      return value;
    };
    switch (args[i]) {
      case "--port": out.port = number(); break;
      case "--ping-interval": out.pingInterval = number(); break;
      case "--ping-timeout": out.pingTimeout = number(); break;
      case "--hold": out.hold = true; break;
      default: throw new Error(`unknown option ${args[i]}`);
    }
  }
  return out;
}

function listen() {
  return new Promise((resolve, reject) => {
    const httpServer = http.createServer();
    const server = new Server(httpServer, {
      pingInterval: options.pingInterval,
      pingTimeout: options.pingTimeout,
    });
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
      say({ event: "listening", port, pid: process.pid });
      resolve({});
    });
  });
}

const commands = {
  async emit({ room, event, payload }) {
    io.to(room).emit(event, payload);
    return {};
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
    if (!io && request.cmd !== "listen") throw new Error(`no server is listening (${request.cmd})`);
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
