//! Time as the planner writes and compares it. The status holds whole seconds; an instant that
//! starts a wait is rounded up and an observation's time down, so that no wait the planner
//! computes can end before the real one (a switch seen at 10.4 s starts its soak at 11 s).

use jiff::{SignedDuration, Timestamp};

/// An observation's time, in whole seconds (rounded down), as the status writes it.
pub fn stamp(t: Timestamp) -> String {
    floor(t).to_string()
}

/// An instant that starts a wait, rounded up to the next whole second.
pub fn start(t: Timestamp) -> Timestamp {
    let f = floor(t);
    if f == t {
        t
    } else {
        plus(f, 1)
    }
}

fn floor(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// A time the status holds, if it holds one.
pub fn parse(s: &Option<String>) -> Option<Timestamp> {
    s.as_deref().and_then(|t| t.parse().ok())
}

/// `t` plus `secs` seconds (saturating).
pub fn plus(t: Timestamp, secs: u64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(secs.min(i64::MAX as u64) as i64))
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_round_up_and_stamps_down() {
        let t: Timestamp = "2026-01-01T00:00:10.400Z".parse().unwrap();
        assert_eq!(start(t).to_string(), "2026-01-01T00:00:11Z");
        assert_eq!(stamp(t), "2026-01-01T00:00:10Z");
        let whole: Timestamp = "2026-01-01T00:00:10Z".parse().unwrap();
        assert_eq!(start(whole), whole);
    }
}
