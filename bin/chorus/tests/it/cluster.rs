//! A test network of `chorus node` processes built by `chorus init`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_chorus");

/// A free loopback port range start with `n * 10` ports free enough for `chorus init`.
pub(crate) fn free_base_port() -> u16 {
    // Ask the OS for a free port and use its neighbourhood; retry on collisions.
    for _ in 0..50 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        drop(l);
        if p < 60_000 && (0..40).all(|i| TcpListener::bind(("127.0.0.1", p + i)).is_ok()) {
            return p;
        }
    }
    panic!("no free port range");
}

pub(crate) struct Cluster {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) n: usize,
    pub(crate) base: u16,
    pub(crate) procs: Vec<Option<Child>>,
}

impl Cluster {
    pub(crate) fn init(n: usize, block_time_ms: u64) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let base = free_base_port();
        let out = Command::new(BIN)
            .args(["init", "--validators", &n.to_string(), "--seed", "it"])
            .args(["--chain-id", "7777", "--insecure-empty-password", "--api-port"])
            .arg(base.to_string())
            .args(["--block-time-ms", &block_time_ms.to_string(), "--home"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Cluster { dir, n, base, procs: (0..n).map(|_| None).collect() }
    }

    pub(crate) fn home(&self, i: usize) -> PathBuf {
        if self.n == 1 {
            self.dir.path().to_path_buf()
        } else {
            self.dir.path().join(format!("node{i}"))
        }
    }

    pub(crate) fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.base + 10 * i as u16)
    }

    pub(crate) fn start(&mut self, i: usize) {
        let log = std::fs::File::create(self.home(i).join("node.log")).unwrap();
        let child = Command::new(BIN)
            .args(["node", "--home"])
            .arg(self.home(i))
            .env("CHORUS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.procs[i] = Some(child);
    }

    pub(crate) fn start_all(&mut self) {
        for i in 0..self.n {
            self.start(i);
        }
    }

    /// SIGKILL: no chance to flush or clean up.
    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub(crate) fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.home(i).join("node.log")).unwrap_or_default()
    }

    pub(crate) fn height(&self, i: usize) -> Option<u64> {
        get(&format!("{}/v1/status", self.url(i))).and_then(|v| v["height"].as_u64())
    }

    pub(crate) fn wait_height(&self, i: usize, h: u64, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.height(i).is_some_and(|x| x >= h) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("node {i} did not reach height {h} in {timeout:?}; log:\n{}", tail(&self.log(i)));
    }

    pub(crate) fn block_hash(&self, i: usize, h: u64) -> Option<String> {
        get(&format!("{}/v1/blocks/{h}", self.url(i)))
            .and_then(|v| v["hash"].as_str().map(str::to_string))
    }

    pub(crate) fn state_root(&self, i: usize, h: u64) -> Option<String> {
        get(&format!("{}/v1/blocks/{h}", self.url(i)))
            .and_then(|v| v["header"]["state_root"].as_str().map(str::to_string))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.n {
            self.kill(i);
        }
    }
}

/// The JSON a `chorus` command printed on stdout; panics with its output if it failed.
pub(crate) fn json_of_success(args: &[&str], out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "chorus {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A blocking GET through `curl`-free plain TCP HTTP/1.0 (keeps the test dependency-light).
pub(crate) fn get(url: &str) -> Option<Value> {
    let (code, body) = http("GET", url, None)?;
    if code == 200 { serde_json::from_slice(&body).ok() } else { None }
}

pub(crate) fn http(method: &str, url: &str, body: Option<&[u8]>) -> Option<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = body.unwrap_or(&[]);
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let status: u16 = std::str::from_utf8(&buf[9..12]).ok()?.parse().ok()?;
    Some((status, buf[split + 4..].to_vec()))
}
