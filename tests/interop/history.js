// retake.tv's REST side for the reference server: every room's chat history (kept for the
// life of the process, and in --history-file across a restart of it), the two history GET
// endpoints and the two send POSTs, with every request recorded for the tests. server.js
// owns the Socket.IO side and the commands; this file never touches a socket itself: an
// accepted send is handed back to server.js to echo.

"use strict";

const fs = require("node:fs");
const { randomUUID } = require("node:crypto");

const V1_HISTORY = "/api/agent/stream/comments";
const V2_HISTORY = "/api/v1/agent/stream/comments";
const V1_SEND = "/api/agent/chat/send";
const V2_SEND = "/api/v1/agent/stream/chat/send";
// The platform's documented page size and its cap.
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 100;
// A send body larger than this is refused (413): a test server must not grow without bound.
const MAX_BODY = 1 << 20;

class History {
  // `file`: where entries are appended as JSON lines and read back on start (optional).
  constructor(file) {
    this.file = file;
    this.rooms = new Map(); // room -> [{seq, item}], oldest first
    this.seq = 0;
    this.sent = [];
    this.reads = [];
    if (file && fs.existsSync(file)) {
      for (const line of fs.readFileSync(file, "utf8").split("\n")) {
        if (line.trim() === "") continue;
        let entry;
        try {
          entry = JSON.parse(line);
        } catch (_) {
          // A line torn by a SIGKILL mid-write: the entry was never acknowledged.
          process.stderr.write(`${file}: skipping a torn line: ${line}\n`);
          continue;
        }
        this.push(entry.room, entry.seq, entry.item);
      }
    }
  }

  // Keep one `message` payload said in `room`, in the shape it is served: as given, except
  // that a flat (generation-2) object gets `chat_event_id: "<seq>"` unless it has one, the
  // id the platform's v2 history carries and the socket does not. Returns the entry.
  record(room, payload) {
    const seq = this.seq + 1;
    let item = payload;
    if (isFlat(payload) && payload.chat_event_id === undefined) {
      item = { chat_event_id: String(seq), ...payload };
    }
    if (this.file) fs.appendFileSync(this.file, JSON.stringify({ room, seq, item }) + "\n");
    return this.push(room, seq, item);
  }

  push(room, seq, item) {
    this.seq = Math.max(this.seq, seq);
    if (!this.rooms.has(room)) this.rooms.set(room, []);
    const entry = { seq, item };
    this.rooms.get(room).push(entry);
    return entry;
  }

  // Up to `limit` items of `room` newest first, all older than the item whose page id is
  // `beforeId` (the newest such item if the id repeats, so paging never skips one; none at
  // all if no item has it).
  page(room, limit, beforeId) {
    const entries = this.rooms.get(room) || [];
    let end = entries.length;
    if (beforeId !== null) {
      end = 0;
      for (let i = entries.length - 1; i >= 0; i--) {
        if (pageId(entries[i].item) === beforeId) {
          end = i;
          break;
        }
      }
    }
    return entries.slice(Math.max(0, end - limit), end).reverse().map((e) => e.item);
  }

  // Answers the history GETs and send POSTs; false for any other path (not answered).
  // `echo(room, generation, text)` says an accepted send in the room and returns its payload.
  handle(req, res, echo) {
    const url = new URL(req.url, "http://127.0.0.1");
    const path = url.pathname;
    if (path === V1_HISTORY || path === V2_HISTORY) {
      if (req.method === "GET") this.read(req, res, url);
      else answer(res, 405, { error: `${path} takes GET` });
      return true;
    }
    if (path === V1_SEND || path === V2_SEND) {
      if (req.method === "POST") readBody(req, (raw) => this.send(req, res, path, raw, echo));
      else answer(res, 405, { error: `${path} takes POST` });
      return true;
    }
    return false;
  }

  read(req, res, url) {
    const query = Object.fromEntries(url.searchParams);
    const read = {
      path: url.pathname,
      query,
      authorization: req.headers.authorization ?? null,
      returned: 0,
    };
    this.reads.push(read);
    const room = url.searchParams.get("userDbId");
    const limit = url.searchParams.has("limit") ? Number(url.searchParams.get("limit")) : DEFAULT_LIMIT;
    if (!room) return done(read, answer(res, 400, { error: "userDbId is required" }));
    if (!Number.isInteger(limit)) {
      return done(read, answer(res, 400, { error: `limit must be a whole number, got ${query.limit}` }));
    }
    const comments = this.page(room, Math.min(MAX_LIMIT, Math.max(1, limit)), url.searchParams.get("beforeId"));
    read.returned = comments.length;
    return done(read, answer(res, 200, { comments }));
  }

  send(req, res, path, raw, echo) {
    let body = raw;
    try {
      if (raw !== null) body = JSON.parse(raw);
    } catch (_) {
      // Recorded as the text that came: a test wants to see what was wrong with it.
    }
    const request = { path, authorization: req.headers.authorization ?? null, body };
    this.sent.push(request);
    if (raw === null) {
      request.body = `(over ${MAX_BODY} bytes, not kept)`;
      return done(request, answer(res, 413, { success: false, error: "body too large" }));
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      return done(request, answer(res, 400, { success: false, error: "the body must be a JSON object" }));
    }
    const v1 = path === V1_SEND;
    const room = v1 ? body.userDbId : body.destination_user_id;
    const field = v1 ? "userDbId" : "destination_user_id";
    if (typeof room !== "string" || room === "") {
      return done(request, answer(res, 400, { success: false, error: `${field} is required` }));
    }
    if (typeof body.message !== "string") {
      return done(request, answer(res, 400, { success: false, error: "message must be a string" }));
    }
    // Said into the room (and so the history) before the answer, as the fake does: a test
    // that saw the 200 can wait for the echo without racing it.
    this.record(room, echo(room, v1 ? "v1" : "v2", body.message));
    return done(request, answer(res, 200, { success: true }));
  }
}

// The agent's own message as the platform echoes a send into the room.
function agentMessage(generation, room, text, agent) {
  if (generation === "v1") {
    return {
      _id: randomUUID(),
      type: "message",
      text,
      timestamp: new Date().toISOString(),
      author: { fusername: agent.name, fid: agent.id, walletAddress: "0xagent" },
    };
  }
  return {
    type: "message",
    streamer_id: room,
    sender_user_id: agent.id,
    sender_username: agent.name,
    text,
    timestamp: String(Date.now()),
  };
}

// A generation-2 payload: an object without the v1 `_id` and `author`.
function isFlat(payload) {
  return (
    payload !== null &&
    typeof payload === "object" &&
    !Array.isArray(payload) &&
    payload._id === undefined &&
    payload.author === undefined
  );
}

// What `beforeId` names an item by: `_id` (v1) or `chat_event_id` (v2), as a string.
function pageId(item) {
  if (item === null || typeof item !== "object") return null;
  const id = item._id !== undefined ? item._id : item.chat_event_id;
  return id === undefined || id === null ? null : String(id);
}

// The whole body as text, or null when it passed MAX_BODY (read to the end, not kept).
function readBody(req, then) {
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size <= MAX_BODY) chunks.push(chunk);
  });
  req.on("end", () => then(size > MAX_BODY ? null : Buffer.concat(chunks).toString("utf8")));
}

function answer(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
  return status;
}

function done(record, status) {
  record.status = status;
  return true;
}

module.exports = { History, agentMessage };
