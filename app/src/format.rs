//! Formatting shared by server render and browser.

use crate::model::Micros;

/// "just now", "5 min ago", "3 h ago", "2 d ago", or the date for older times.
pub fn relative_time(at: Micros, now: Micros) -> String {
    relative_age((now.0 - at.0) / 1_000_000).unwrap_or_else(|| at.to_datetime().format("%Y-%m-%d").to_string())
}

/// How long ago, for ages under a week (older times show their date). The
/// browser uses this alone, to keep times current without a date library.
pub fn relative_age(seconds: i64) -> Option<String> {
    Some(match seconds {
        s if s < 0 => "in the future".to_string(),
        0..=44 => "just now".to_string(),
        // Rounded, but never up to "60 min".
        45..=3_599 => format!("{} min ago", ((seconds + 30) / 60).min(59)),
        3_600..=86_399 => format!("{} h ago", seconds / 3_600),
        86_400..=604_799 => format!("{} d ago", seconds / 86_400),
        _ => return None,
    })
}

/// The absolute time shown on hover.
pub fn absolute_time(at: Micros) -> String {
    at.to_datetime().format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;

    #[test]
    fn relative_time_buckets() {
        let now = Micros(1_700_000_000 * SECOND);
        assert_eq!(relative_time(Micros(now.0 - 10 * SECOND), now), "just now");
        assert_eq!(relative_time(Micros(now.0 - 300 * SECOND), now), "5 min ago");
        assert_eq!(relative_time(Micros(now.0 - 3_590 * SECOND), now), "59 min ago");
        assert_eq!(relative_time(Micros(now.0 - 7_200 * SECOND), now), "2 h ago");
        assert_eq!(relative_time(Micros(now.0 - 3 * 86_400 * SECOND), now), "3 d ago");
        assert_eq!(relative_time(Micros(now.0 - 30 * 86_400 * SECOND), now), "2023-10-15");
        assert_eq!(relative_time(Micros(now.0 + 60 * SECOND), now), "in the future");
    }
}
