//! The one timestamp type and its one wire format.
//!
//! Emitted: RFC 3339 in UTC with exactly six fractional digits and `Z`
//! (`2025-06-01T09:30:00.123456Z`), so that text order is time order in
//! SQLite. Accepted: that form, any RFC 3339 offset (`+02:00`), and the
//! reference SDK's naive form (`2025-06-01T09:30:00` with or without a
//! fraction), which is read as UTC.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant, microsecond precision, always rendered in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(jiff::Timestamp);

/// The text could not be read as a timestamp in any accepted form.
#[derive(Debug, thiserror::Error)]
#[error("invalid timestamp {0:?}: expected RFC 3339 or naive ISO-8601")]
pub struct ParseTimestampError(String);

impl Timestamp {
    /// The current time, truncated to microseconds (what the wire carries).
    pub fn now() -> Self {
        Self::from_jiff(jiff::Timestamp::now())
    }

    /// Wraps a jiff timestamp, truncated to microseconds.
    pub fn from_jiff(ts: jiff::Timestamp) -> Self {
        let micros = ts.as_microsecond();
        Self(jiff::Timestamp::from_microsecond(micros).expect("in range"))
    }

    /// The underlying jiff timestamp.
    pub fn as_jiff(&self) -> jiff::Timestamp {
        self.0
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(&self) -> i64 {
        self.0.as_microsecond()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
    }
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ts) = s.parse::<jiff::Timestamp>() {
            return Ok(Self::from_jiff(ts));
        }
        // The reference's naive local form: read as UTC.
        s.parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|dt| jiff::tz::TimeZone::UTC.to_timestamp(dt).ok())
            .map(Self::from_jiff)
            .ok_or_else(|| ParseTimestampError(s.to_owned()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_six_digits_and_z_even_for_zero_micros() {
        let ts: Timestamp = "2025-01-02T03:04:05".parse().unwrap();
        assert_eq!(ts.to_string(), "2025-01-02T03:04:05.000000Z");
    }

    #[test]
    fn reads_naive_fraction_as_utc() {
        let ts: Timestamp = "2025-06-01T09:30:01.623567".parse().unwrap();
        assert_eq!(ts.to_string(), "2025-06-01T09:30:01.623567Z");
    }

    #[test]
    fn reads_offsets() {
        let ts: Timestamp = "2025-06-01T11:30:00.5+02:00".parse().unwrap();
        assert_eq!(ts.to_string(), "2025-06-01T09:30:00.500000Z");
    }

    #[test]
    fn truncates_to_micros_and_round_trips() {
        let now = Timestamp::now();
        let again: Timestamp = now.to_string().parse().unwrap();
        assert_eq!(now, again);
    }

    #[test]
    fn text_order_is_time_order() {
        let a: Timestamp = "2025-06-01T09:30:00.9".parse().unwrap();
        let b: Timestamp = "2025-06-01T09:30:01".parse().unwrap();
        assert!(a < b && a.to_string() < b.to_string());
    }

    #[test]
    fn rejects_garbage() {
        assert!("yesterday".parse::<Timestamp>().is_err());
    }
}
