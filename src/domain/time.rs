//! Times are stored as UTC milliseconds and rendered the way Huawei's job bodies
//! show them (`2020-04-10 06:45:14`) or as RFC 3339 for desktop fields.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// The current time in UTC milliseconds.
#[must_use]
pub fn now_ms() -> Millis {
    let now = OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn to_datetime(ms: Millis) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2020-04-10 06:45:14`, as in Huawei's job examples.
#[must_use]
pub fn job_time(ms: Millis) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    to_datetime(ms).format(&fmt).unwrap_or_default()
}

/// `2020-04-10T06:45:14.123Z`, for `created` fields.
#[must_use]
pub fn rfc3339(ms: Millis) -> String {
    let dt = to_datetime(ms);
    dt.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_huawei_examples() {
        let ms = 1_586_501_114_000; // 2020-04-10 06:45:14 UTC
        assert_eq!(job_time(ms), "2020-04-10 06:45:14");
        assert_eq!(rfc3339(ms), "2020-04-10T06:45:14Z");
    }
}
