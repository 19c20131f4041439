//! UTC days and windows of days: the one day type and the one window type that every command, the
//! S3 listing and the store's `day` column and `month` partitions use.

use chrono::{Datelike, Months, NaiveDate};

/// A UTC day.
pub type Day = NaiveDate;

/// The `day` text of the earliest and latest day a window can reach, as the store writes days.
const FIRST_DAY_TEXT: &str = "0000-01-01";
const LAST_DAY_TEXT: &str = "9999-12-31";

/// The `YYYY-MM-DD` part of a day or of an ISO-8601 time (`2024-03-01T10:00:00Z`), if it names a
/// real date. Borrowed and without a format parser: ingest calls this for every event.
pub fn day_text(time: &str) -> Option<&str> {
    let day = time.get(..10)?;
    day_of_text(day)?;
    match time.as_bytes().get(10) {
        None | Some(b'T') | Some(b' ') => Some(day),
        _ => None,
    }
}

/// The `YYYY-MM` month of a `YYYY-MM-DD` day, as the store's `month` partitions name it.
pub fn month_of_day(day: &str) -> Option<&str> {
    day_of_text(day)?;
    day.get(..7)
}

/// The day `YYYY-MM-DD` names exactly.
fn day_of_text(day: &str) -> Option<Day> {
    let bytes = day.as_bytes();
    if bytes.len() != 10 {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| bytes[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && bytes[4] == b'-' && digits(5..7) && bytes[7] == b'-' && digits(8..10)) {
        return None;
    }
    let number = |r: std::ops::Range<usize>| {
        bytes[r]
            .iter()
            .fold(0u32, |n, digit| n * 10 + u32::from(digit - b'0'))
    };
    NaiveDate::from_ymd_opt(number(0..4) as i32, number(5..7), number(8..10))
}

/// The day of `YYYY-MM-DD` or of an ISO-8601 time. The value parser of every `--start`/`--end`,
/// so that an error names its flag.
pub fn parse_day(text: &str) -> Result<Day, String> {
    day_text(text)
        .and_then(day_of_text)
        .ok_or_else(|| format!("{text:?} is not a day; write YYYY-MM-DD"))
}

/// The number of days of a month.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|first| first.checked_add_months(Months::new(1)))
        .and_then(|next| next.pred_opt())
        .map_or(31, |last| last.day())
}

#[derive(Debug, thiserror::Error)]
#[error("the window is empty: --start {start} is after --end {end}")]
pub struct EmptyWindow {
    start: Day,
    end: Day,
}

/// Days from `start` to `end`, both included; an open end reaches as far as there are logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub start: Option<Day>,
    pub end: Option<Day>,
}

impl Window {
    pub fn new(start: Option<Day>, end: Option<Day>) -> Result<Window, EmptyWindow> {
        if let (Some(start), Some(end)) = (start, end)
            && start > end
        {
            return Err(EmptyWindow { start, end });
        }
        Ok(Window { start, end })
    }

    /// The window a question about use looks at: an open end is `today`, an open start 365 days
    /// before the end.
    pub fn or_last_year(self, today: Day) -> Result<Window, EmptyWindow> {
        let end = self.end.unwrap_or(today);
        let start = self
            .start
            .unwrap_or_else(|| end.checked_sub_days(chrono::Days::new(365)).unwrap_or(end));
        Window::new(Some(start), Some(end))
    }

    pub fn is_open(&self) -> bool {
        self.start.is_none() && self.end.is_none()
    }

    pub fn contains(&self, day: Day) -> bool {
        self.start.is_none_or(|s| s <= day) && self.end.is_none_or(|e| day <= e)
    }

    /// Whether the `YYYY-MM-DD` day of a key is in the window; a text that is no day is in an open
    /// window only.
    pub fn contains_text(&self, text: &str) -> bool {
        match day_of_text(text) {
            Some(day) => self.contains(day),
            None => self.is_open(),
        }
    }

    /// The first day as the `day` column writes it; an open start is the earliest day.
    pub fn start_text(&self) -> String {
        self.start
            .map_or_else(|| FIRST_DAY_TEXT.to_string(), |day| day.to_string())
    }

    /// The last day as the `day` column writes it; an open end is the latest day.
    pub fn end_text(&self) -> String {
        self.end
            .map_or_else(|| LAST_DAY_TEXT.to_string(), |day| day.to_string())
    }

    /// The month of the first day, as the `month` partition column writes it.
    pub fn start_month_text(&self) -> String {
        self.start_text()[..7].to_string()
    }

    /// The month of the last day, as the `month` partition column writes it.
    pub fn end_month_text(&self) -> String {
        self.end_text()[..7].to_string()
    }

    /// The window grown by `days` before its start.
    pub fn widened_before(&self, days: u64) -> Window {
        Window {
            start: self.start.map(|start| {
                start
                    .checked_sub_days(chrono::Days::new(days))
                    .unwrap_or(start)
            }),
            end: self.end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Day {
        parse_day(text).expect("a day")
    }

    #[test]
    fn days_are_read_from_days_and_times_only_when_real() {
        assert_eq!(day_text("2024-03-01T10:00:00Z"), Some("2024-03-01"));
        assert_eq!(day_text("2024-02-29"), Some("2024-02-29"));
        assert_eq!(day_text("2024-03-01 10:00:00"), Some("2024-03-01"));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-32",
            "2024-1-01",
            "2024-01-01x",
            "yesterday",
            "",
            "２０２４-01-01",
        ] {
            assert_eq!(day_text(bad), None, "{bad}");
            assert!(parse_day(bad).is_err(), "{bad}");
            assert_eq!(month_of_day(bad), None, "{bad}");
        }
        assert_eq!(month_of_day("2024-02-29"), Some("2024-02"));
        assert_eq!(month_of_day("2024-02-29T10:00:00Z"), None);
        assert_eq!(day("2018-03-31T00:00:00Z"), day("2018-03-31"));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2024, 12), 31);
        assert_eq!(days_in_month(2024, 4), 30);
    }

    #[test]
    fn windows() {
        let w = Window::new(Some(day("2018-01-01")), Some(day("2018-03-31"))).expect("valid");
        assert!(w.contains(day("2018-01-01")) && w.contains(day("2018-03-31")));
        assert!(!w.contains(day("2017-12-31")) && !w.contains(day("2018-04-01")));
        assert!(w.contains_text("2018-02-28") && !w.contains_text("2018-02-30"));
        assert!(Window::default().contains_text("not a day"));
        assert!(Window::new(Some(day("2018-02-01")), Some(day("2018-01-01"))).is_err());
        assert_eq!(
            (Window::default().start_text(), Window::default().end_text()),
            ("0000-01-01".to_string(), "9999-12-31".to_string())
        );
        assert_eq!(
            (w.start_month_text(), w.end_month_text()),
            ("2018-01".to_string(), "2018-03".to_string())
        );

        let last_year = Window::new(None, Some(day("2024-03-01")))
            .and_then(|w| w.or_last_year(day("2030-01-01")))
            .expect("valid");
        assert_eq!(last_year.start_text(), "2023-03-02");
        let today = Window::default()
            .or_last_year(day("2024-03-01"))
            .expect("valid");
        assert_eq!(
            (today.start_text(), today.end_text()),
            ("2023-03-02".to_string(), "2024-03-01".to_string())
        );
        assert!(
            Window::new(Some(day("2099-01-01")), None)
                .and_then(|w| w.or_last_year(day("2024-03-01")))
                .is_err()
        );
        assert_eq!(
            last_year.widened_before(1).start_text(),
            "2023-03-01".to_string()
        );
    }
}
