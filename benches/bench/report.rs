//! What the benchmark prints: the [`Report`] of a whole run as a table of rows (measured,
//! target, met, the seed listener's figure) with notes under it, or as JSON; and the machine
//! it ran on, since every figure moves with whatever else the CPUs are doing.

use std::fs;
use std::thread;

use serde_json::{Value, json};

use super::{
    BURST_MESSAGES, Burst, LATENCY_MESSAGES, LATENCY_RATE_PER_S, Latency, catchup, flood, mcp,
    queue,
};

pub struct Cpu {
    pub listener_s: f64,
    pub wakes_s: f64,
    pub bench_s: f64,
}

pub struct Report {
    pub start_ms: Vec<f64>,
    pub latency: Latency,
    pub burst: Burst,
    pub wakes: usize,
    pub cpu: Cpu,
    pub idle_rss_kb: u64,
    pub peak_rss_kb: u64,
    pub peak_fds: usize,
    pub script_us: f64,
    pub queue: queue::QueueTimes,
    pub caught_up: catchup::CatchUp,
    pub mcp: mcp::McpTimes,
    pub flood: flood::Flood,
    pub soak: flood::Soak,
}

/// One row: what, measured, target (with whether it was met), the seed listener.
pub struct Row {
    pub what: String,
    pub measured: String,
    pub target: String,
    pub ok: Option<bool>,
    pub seed: &'static str,
}

impl Report {
    pub fn start_median_ms(&self) -> f64 {
        let mut sorted = self.start_ms.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }

    pub fn cpu_total_s(&self) -> f64 {
        self.cpu.listener_s + self.cpu.wakes_s
    }

    pub fn rows(&self) -> Vec<Row> {
        let row = |what: &str, measured: String, target: &str, ok: Option<bool>, seed| Row {
            what: what.into(),
            measured,
            target: target.into(),
            ok,
            seed,
        };
        let lat = |q| self.latency.percentile(q);
        let mb = |kb: u64| kb as f64 / 1024.0;
        let b = &self.burst;
        vec![
            row(
                "start → joined (median of 5)",
                format!("{:.1} ms", self.start_median_ms()),
                "≤ 50 ms",
                Some(self.start_median_ms() <= 50.0),
                "~100 ms",
            ),
            row(
                "'gm' → reply p50, 200/s",
                format!("{:.2} ms", lat(0.5)),
                "",
                None,
                "0.7 ms",
            ),
            row(
                "'gm' → reply p90",
                format!("{:.2} ms", lat(0.9)),
                "",
                None,
                "",
            ),
            row(
                "'gm' → reply p99",
                format!("{:.2} ms", lat(0.99)),
                "≤ 1 ms",
                Some(lat(0.99) <= 1.0),
                "8–10 ms",
            ),
            row(
                "'gm' → reply max",
                format!("{:.2} ms", lat(1.0)),
                "",
                None,
                "",
            ),
            row(
                "burst 5,000: last reply after",
                format!("{:.0} ms", b.last_reply_ms),
                "≤ 2 s",
                Some(b.last_reply_ms <= 2000.0),
                "6.1–6.5 s",
            ),
            row(
                "burst: POSTs (replies + acks)",
                format!("{} ({} + {})", b.posts, b.replies, b.acks),
                "5,000",
                Some(b.replies + b.acks == BURST_MESSAGES),
                "",
            ),
            row(
                "burst: queue lines",
                b.queued.to_string(),
                "2,500",
                Some(b.queued == BURST_MESSAGES / 2),
                "",
            ),
            row("burst: wakes", self.wakes.to_string(), "", None, ""),
            row(
                "burst: lost",
                b.lost.to_string(),
                "0",
                Some(b.lost == 0),
                "",
            ),
            row(
                "burst: CPU, listener + wakes",
                format!(
                    "{:.2} s ({:.2} + {:.2})",
                    self.cpu_total_s(),
                    self.cpu.listener_s,
                    self.cpu.wakes_s
                ),
                "≤ 1 s",
                Some(self.cpu_total_s() <= 1.0),
                "9.2 s (3.7 + 5.5)",
            ),
            row(
                "resident memory, idle",
                format!("{:.1} MB", mb(self.idle_rss_kb)),
                "≤ 10 MB",
                Some(mb(self.idle_rss_kb) <= 10.0),
                "54 MB",
            ),
            row(
                "resident memory, peak",
                format!("{:.1} MB", mb(self.peak_rss_kb)),
                "≤ 30 MB",
                Some(mb(self.peak_rss_kb) <= 30.0),
                "170 MB",
            ),
            row(
                "open file descriptors, peak",
                self.peak_fds.to_string(),
                "≤ 64",
                Some(self.peak_fds <= 64),
                "12,000",
            ),
            row(
                "on_message, shipped personality",
                format!("{:.2} µs", self.script_us),
                "≤ 5 µs",
                Some(self.script_us <= 5.0),
                "",
            ),
            queue_row(&self.queue),
        ]
        .into_iter()
        .chain([catchup::row(&self.caught_up)])
        .chain(mcp::rows(&self.mcp))
        .chain(flood::rows(&self.flood, &self.soak))
        .collect()
    }

    pub fn table(&self) -> String {
        let mut out = table(&self.rows());
        out.push(String::new());
        out.push(queue_note(&self.queue));
        out.push(flood::note(&self.flood));
        out.push(format!(
            "starts: {} ms; burst emitted in {:.0} ms; the bench process (fake server) used {:.2} s CPU in the burst",
            self.start_ms
                .iter()
                .map(|ms| format!("{ms:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.burst.emit_ms,
            self.cpu.bench_s
        ));
        out.join("\n")
    }

    pub fn json(&self) -> Value {
        let b = &self.burst;
        json!({
            "start_to_joined_ms": { "median": self.start_median_ms(), "runs": self.start_ms },
            "gm_reply_latency_ms": {
                "rate_per_s": LATENCY_RATE_PER_S,
                "messages": LATENCY_MESSAGES,
                "p50": self.latency.percentile(0.5),
                "p90": self.latency.percentile(0.9),
                "p99": self.latency.percentile(0.99),
                "max": self.latency.percentile(1.0),
            },
            "burst": {
                "messages": BURST_MESSAGES,
                "emit_ms": b.emit_ms,
                "last_reply_ms": b.last_reply_ms,
                "posts": b.posts,
                "replies": b.replies,
                "acks": b.acks,
                "queue_lines": b.queued,
                "wakes": self.wakes,
                "lost": b.lost,
                "cpu_s": { "listener": self.cpu.listener_s, "wakes": self.cpu.wakes_s, "bench": self.cpu.bench_s },
            },
            "rss_mb": { "idle": self.idle_rss_kb as f64 / 1024.0, "peak": self.peak_rss_kb as f64 / 1024.0 },
            "peak_fds": self.peak_fds,
            "on_message_us": self.script_us,
            "queue_take_ack_ms": {
                "items": queue::ITEMS,
                "take_ack": self.queue.take_ack_ms,
                "take": self.queue.take_ms,
                "ack": self.queue.ack_ms,
                "max": self.queue.max_ms,
            },
            "flood": {
                "messages": flood::FLOOD_MESSAGES,
                "rss_kb": { "before": self.flood.rss_kb[0], "peak": self.flood.rss_kb[1], "handled": self.flood.rss_kb[2], "idle_after": self.flood.rss_kb[3] },
                "posted": self.flood.posted,
                "late_s": { "p50": self.flood.lateness.percentile(0.5) / 1000.0, "p99": self.flood.lateness.percentile(0.99) / 1000.0, "max": self.flood.lateness.percentile(1.0) / 1000.0 },
                "lost_questions": self.flood.lost_questions,
            },
            "catch_up": { "missed": catchup::MISSED, "rejoin_to_last_ms": self.caught_up.rejoin_to_last_ms },
            "mcp": { "rounds": mcp::ROUNDS, "wait_ms": self.mcp.wait_ms, "take_ms": self.mcp.take_ms, "reply_ms": self.mcp.reply_ms, "rss_kb": self.mcp.idle_rss_kb },
            "soak": { "messages": flood::SOAK_MESSAGES, "rss_kb": self.soak.rss_kb, "lost_questions": self.soak.lost_questions },
            "targets": self.rows().iter().filter_map(|r| {
                Some(json!({ "metric": r.what, "measured": r.measured, "target": r.target, "met": r.ok? }))
            }).collect::<Vec<_>>(),
            "machine": machine(),
        })
    }
}

/// The queue's row: the median take + ack.
pub fn queue_row(q: &queue::QueueTimes) -> Row {
    Row {
        what: format!("queue take 5 + ack 5, {} items", thousands(queue::ITEMS)),
        measured: format!("{:.2} ms", q.take_ack_ms),
        target: "≤ 5 ms".into(),
        ok: Some(q.take_ack_ms <= 5.0),
        seed: "",
    }
}

/// The queue's details under the table.
pub fn queue_note(q: &queue::QueueTimes) -> String {
    format!(
        "queue at {} items: take {:.2} ms + ack {:.2} ms (medians), slowest take + ack {:.1} ms",
        thousands(queue::ITEMS),
        q.take_ms,
        q.ack_ms,
        q.max_ms
    )
}

/// 10000 → "10,000".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// CPU count, model and kernel, for the README.
pub fn machine() -> String {
    let cpus = thread::available_parallelism().map_or(0, usize::from);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // Other work on the machine shows up in the tails; the load average says how much there was.
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "machine: {cpus} × {model}, Linux {}, load average {}",
        kernel.trim(),
        load.join(" ")
    )
}

/// The table's lines: a header, then one line per row.
pub fn table(rows: &[Row]) -> Vec<String> {
    let width = |f: fn(&Row) -> &str, title: &str| {
        rows.iter()
            .map(|r| f(r).chars().count())
            .chain([title.chars().count()])
            .max()
            .unwrap_or(0)
    };
    let w = [
        width(|r| &r.what, "metric"),
        width(|r| &r.measured, "retake-chat"),
        width(|r| &r.target, "target"),
    ];
    let line = |a: &str, b: &str, c: &str, d: &str, e: &str| {
        format!(
            "| {a:<w0$} | {b:>w1$} | {c:<w2$} | {d} | {e}",
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        )
        .trim_end()
        .to_owned()
            + " |"
    };
    let mut out = vec![
        line("metric", "retake-chat", "target", "  ", "seed (Node.js)"),
        format!(
            "| {} | {}: | {} | -- | --- |",
            "-".repeat(w[0]),
            "-".repeat(w[1] - 1),
            "-".repeat(w[2])
        ),
    ];
    for r in rows {
        let mark = match r.ok {
            Some(true) => "✓ ",
            Some(false) => "✗ ",
            None => "  ",
        };
        out.push(line(&r.what, &r.measured, &r.target, mark, r.seed));
    }
    out
}
