//! The fault-injecting proxy of tests/faults/r53proxy.py in front of the Route 53 stand-in:
//! started per test on a free loopback port, told its schedule over its control path, and
//! stopped when dropped. moto never loses an answer, throttles or fails with a 5xx; the proxy
//! does, with Route 53's own error replies.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct FaultProxy {
    child: Child,
    pub port: u16,
}

impl FaultProxy {
    /// Starts the proxy in front of `ZS_ROUTE53_ENDPOINT`.
    pub fn start() -> FaultProxy {
        let root = env!("CARGO_MANIFEST_DIR");
        let python = format!("{root}/.venv/bin/python");
        let mut child = Command::new(&python)
            .arg(format!("{root}/tests/faults/r53proxy.py"))
            .args(["--upstream", &super::endpoint(), "--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{python} tests/faults/r53proxy.py: {e} (run scripts/test-env up)")
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the proxy's port");
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the proxy said {line:?}, not its port"));
        FaultProxy { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sets the schedule (see r53proxy.py) and returns the proxy's answer.
    pub async fn schedule(&self, spec: serde_json::Value) -> serde_json::Value {
        self.control("PUT", &spec.to_string()).await
    }

    /// What the proxy has injected since the schedule was set.
    pub async fn counts(&self) -> serde_json::Value {
        self.control("GET", "").await
    }

    async fn control(&self, method: &str, body: &str) -> serde_json::Value {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to the proxy");
        let req = format!(
            "{method} /__faults HTTP/1.1\r\nHost: proxy\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.expect("read");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    return serde_json::from_str(&body[..len]).expect("json");
                }
            }
            assert!(n > 0, "the proxy closed its control connection");
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
