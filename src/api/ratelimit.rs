//! Per-credential token buckets: `burst` requests at once, refilled at
//! `requests_per_second`. A refused request learns when to come back.

use crate::config::RateLimitConfig;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets by principal (access key or token user).
pub struct RateLimiter {
    cfg: RateLimitConfig,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Limits from configuration.
    #[must_use]
    pub fn new(cfg: RateLimitConfig) -> Self {
        Self {
            cfg,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one request for `principal`; `Err(wait)` when over the limit.
    pub fn check(&self, principal: &str) -> Result<(), Duration> {
        if !self.cfg.enabled {
            return Ok(());
        }
        let rate = self.cfg.requests_per_second.max(0.001);
        let burst = self.cfg.burst.max(1.0);
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = buckets.entry(principal.to_owned()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_next_waits() {
        let rl = RateLimiter::new(RateLimitConfig {
            enabled: true,
            requests_per_second: 1.0,
            burst: 3.0,
        });
        for _ in 0..3 {
            assert!(rl.check("ak").is_ok());
        }
        let wait = rl.check("ak").unwrap_err();
        assert!(
            wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(rl.check("other").is_ok(), "buckets are per credential");
    }

    #[test]
    fn disabled_never_limits() {
        let rl = RateLimiter::new(RateLimitConfig {
            enabled: false,
            requests_per_second: 0.001,
            burst: 1.0,
        });
        for _ in 0..100 {
            assert!(rl.check("ak").is_ok());
        }
    }
}
