//! Clients that read one byte at a time, or nothing at all, while normal
//! clients stream from the real binary. The normal streams are unaffected,
//! the server's memory stays bounded, and each slow client is cut off by
//! the documented rule: once `event_buffer` events wait for it, its turn is
//! cancelled like a disconnect (partial answer and note stored), and once
//! its connection's sent data makes no progress for `--send-timeout-secs`
//! the kernel drops the connection, freeing the events still queued for it.

use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::*;
use crate::process::ServerProcess;

/// `VmRSS` of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Connects with a tiny receive buffer and sends a `threads.create` by
/// hand, as `user`.
async fn raw_request(addr: &str, user: &str, text: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr.parse().unwrap()).await.unwrap();
    let body = serde_json::to_vec(&create(text)).unwrap();
    let head = format!(
        "POST /chatkit HTTP/1.1\r\nHost: {addr}\r\nX-User-Id: {user}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    stream
}

/// Reads one byte every `pause` until the server closes the connection;
/// `read` counts the bytes, `closed` says whether the server ended it.
async fn trickle(
    mut stream: TcpStream,
    pause: Duration,
    read: Rc<Cell<usize>>,
    closed: Rc<Cell<bool>>,
) {
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte).await {
            Ok(0) | Err(_) => {
                closed.set(true);
                return;
            }
            Ok(_) => read.set(read.get() + 1),
        }
        actix_web::rt::time::sleep(pause).await;
    }
}

/// How many server-side connections from `ports` are established
/// (`/proc/net/tcp`: the server and the clients share the loopback).
fn established(server_port: u16, ports: &[u16]) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port_of = |addr: &str| u16::from_str_radix(addr.rsplit(':').next().unwrap(), 16).unwrap();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f[3] == "01" && port_of(f[1]) == server_port && ports.contains(&port_of(f[2]))
        })
        .count()
}

/// Turns of users named `slow-…` that were cancelled (their note stored).
fn cancelled_slow_turns(db: &Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM items WHERE user_id LIKE 'slow-%' AND item_type = 'sdk_hidden_context'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[actix_web::test]
async fn slow_and_stalled_readers_are_cut_off_without_hurting_other_streams() {
    const STALLED: usize = 4;
    const TRICKLING: usize = 4;
    const SEND_TIMEOUT_SECS: u64 = 5;
    const NORMAL: usize = 20;
    const TURNS: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chatkit.sqlite3");
    let timeout = SEND_TIMEOUT_SECS.to_string();
    // The stalled readers' messages are long, so their echoes fill socket
    // buffers: lift the message length limit.
    let args = [
        "--send-timeout-secs",
        timeout.as_str(),
        "--max-message-chars",
        "0",
    ];
    let server = ServerProcess::start_with(&db, 0, 1, &args).await;
    let addr = server.url.trim_start_matches("http://").to_owned();
    let server_port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let mut slow_ports = Vec::new();

    // Warm up, then measure.
    let (status, _) = server.post(&create("warm up")).await;
    assert_eq!(status, 200);
    let rss_before = rss_kib(server.pid());

    // An answer of 20 000 deltas (4 MB of events): more than the event
    // buffer (4096) plus what the socket buffers hold (about 3 MB on
    // loopback). Whichever rule fires first cuts the turn: the full event
    // buffer, or the send timeout dropping the connection.
    let huge = (0..20_000)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut stalled = Vec::new();
    for i in 0..STALLED {
        let stream = raw_request(&addr, &format!("slow-stalled-{i}"), &huge).await;
        slow_ports.push(stream.local_addr().unwrap().port());
        stalled.push(stream);
    }
    let mut tricklers = Vec::new();
    for i in 0..TRICKLING {
        let stream = raw_request(&addr, &format!("slow-trickle-{i}"), &huge).await;
        slow_ports.push(stream.local_addr().unwrap().port());
        let read = Rc::new(Cell::new(0));
        let closed = Rc::new(Cell::new(false));
        actix_web::rt::spawn(trickle(
            stream,
            Duration::from_millis(5),
            read.clone(),
            closed.clone(),
        ));
        tricklers.push((read, closed));
    }

    // Normal clients stream meanwhile; every answer is complete and right.
    let started = Instant::now();
    let normal: Vec<_> = (0..NORMAL)
        .map(|n| {
            let client = server.client.clone();
            let url = format!("{}/chatkit", server.url);
            actix_web::rt::spawn(async move {
                let mut thread: Option<String> = None;
                for t in 0..TURNS {
                    let text = format!("normal client {n} turn {t} asks a short question");
                    let body = match &thread {
                        None => create(&text),
                        Some(id) => add_message(id, &text),
                    };
                    let resp = client
                        .post(&url)
                        .header("X-User-Id", format!("normal-{n}"))
                        .json(&body)
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await
                        .expect("request sent");
                    assert_eq!(resp.status(), 200);
                    let events = parse_sse(&resp.text().await.expect("whole body"));
                    if thread.is_none() {
                        thread = Some(events[0]["thread"]["id"].as_str().unwrap().to_owned());
                    }
                    assert_eq!(answer_text(&events), format!("You said: \"{text}\""));
                }
            })
        })
        .collect();
    for task in normal {
        task.await.expect("a normal client failed");
    }
    let normal_took = started.elapsed();

    // Every slow client's turn is cut off and stored like a disconnect.
    let deadline = Instant::now() + Duration::from_secs(60);
    while cancelled_slow_turns(&db) < (STALLED + TRICKLING) as i64 {
        assert!(
            Instant::now() < deadline,
            "only {} of {} slow turns cut off:\n{}",
            cancelled_slow_turns(&db),
            STALLED + TRICKLING,
            server.log()
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let cut_after = started.elapsed();
    let rss_cut = rss_kib(server.pid());
    let open_at_cut = established(server_port, &slow_ports);
    let not_reading = server
        .log()
        .matches("client is not reading its stream")
        .count();

    // Their backlog makes no progress: the kernel drops the connections.
    let deadline = Instant::now() + Duration::from_secs(SEND_TIMEOUT_SECS + 30);
    while established(server_port, &slow_ports) > 0 {
        assert!(
            Instant::now() < deadline,
            "{} slow connections still open",
            established(server_port, &slow_ports)
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let dropped_after = started.elapsed();
    let rss_dropped = rss_kib(server.pid());
    let trickled: usize = tricklers.iter().map(|(r, _)| r.get()).sum();
    println!(
        "slow clients: {STALLED} stalled + {TRICKLING} reading 1 byte/5 ms, \
         {NORMAL}x{TURNS} normal turns all complete in {normal_took:?}; \
         slow turns all cut off after {cut_after:?} ({not_reading} for a full event buffer; \
         {open_at_cut} connections still open), \
         connections dropped after {dropped_after:?} (send timeout {SEND_TIMEOUT_SECS} s); \
         VmRSS {rss_before} KiB before, {rss_cut} KiB at the cut, {rss_dropped} KiB after the drop; \
         tricklers read {trickled} bytes"
    );
    assert!(
        rss_cut < rss_before + 64 * 1024 && rss_dropped < rss_before + 64 * 1024,
        "memory grew from {rss_before} KiB to {rss_cut} KiB"
    );
    // The server is fine: a new conversation streams normally.
    let (status, events) = server.post(&create("still serving")).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer_text(events.as_array().unwrap()),
        "You said: \"still serving\""
    );
    drop(stalled);
}
