//! Which partitions no more rows can reach, so that they are written while decoding goes on.
//!
//! CloudTrail puts an object in the folder of the day it delivers it (`…/YYYY/MM/DD/`), minutes
//! after its events, so the events of day d are found in the folders of days d and d+1. Objects are
//! read in order of account and delivery day; once every object of an account delivered on or before
//! day d+1 is decoded, the partition (account, d) is closed. Rows that arrive later still (a delayed
//! delivery) are written at the end of the run and merged into the partition's file.

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate};

use super::source::SourceObject;

/// Objects not yet decoded, per account and delivery day.
pub struct DeliveryFrontier {
    pending: HashMap<String, BTreeMap<NaiveDate, usize>>,
}

impl DeliveryFrontier {
    /// `None` when some object's account or delivery day is unknown (a folder that follows no
    /// layout): then any partition may get rows until the end, and none is closed early.
    pub fn new(objects: &[SourceObject]) -> Option<DeliveryFrontier> {
        let mut pending: HashMap<String, BTreeMap<NaiveDate, usize>> = HashMap::new();
        for object in objects {
            let (account, day) = delivery(object)?;
            *pending
                .entry(account.to_string())
                .or_default()
                .entry(day)
                .or_default() += 1;
        }
        Some(DeliveryFrontier { pending })
    }

    /// Records that `object` is decoded (or failed). When that closes partitions, returns the
    /// account and the first day still open (`None`: every day of the account is closed).
    pub fn done(&mut self, object: &SourceObject) -> Option<(String, Option<String>)> {
        let (account, day) = delivery(object)?;
        let days = self.pending.get_mut(account)?;
        let first_before = days.keys().next().copied();
        if let Some(count) = days.get_mut(&day) {
            *count -= 1;
            if *count == 0 {
                days.remove(&day);
            }
        }
        let first_after = days.keys().next().copied();
        if first_after == first_before {
            return None;
        }
        // Events of the day before the first pending delivery day may still be in its objects.
        let open_from = first_after
            .and_then(|first| first.checked_sub_days(Days::new(1)))
            .map(|day| day.format("%Y-%m-%d").to_string());
        Some((account.to_string(), open_from))
    }
}

fn delivery(object: &SourceObject) -> Option<(&str, NaiveDate)> {
    let layout = object.layout.as_ref()?;
    let day = NaiveDate::parse_from_str(&layout.date, "%Y-%m-%d").ok()?;
    Some((layout.account.as_str(), day))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::keys::Layout;

    fn object(account: &str, date: &str) -> SourceObject {
        SourceObject::for_test(Some(Layout {
            org: None,
            account: account.into(),
            region: "us-east-1".into(),
            date: date.into(),
        }))
    }

    #[test]
    fn a_day_closes_when_the_next_days_deliveries_are_decoded() {
        let objects = [
            object("111111111111", "2024-03-01"),
            object("111111111111", "2024-03-02"),
            object("111111111111", "2024-03-02"),
            object("111111111111", "2024-03-03"),
            object("222222222222", "2024-03-01"),
        ];
        let mut frontier = DeliveryFrontier::new(&objects).expect("every object has a layout");
        let open = |day: &str| Some(("111111111111".to_string(), Some(day.to_string())));
        // 03-01 done: 02-29 and earlier are closed; 03-01's events may still come on 03-02.
        assert_eq!(frontier.done(&objects[0]), open("2024-03-01"));
        assert_eq!(frontier.done(&objects[1]), None);
        assert_eq!(frontier.done(&objects[2]), open("2024-03-02"));
        assert_eq!(
            frontier.done(&objects[3]),
            Some(("111111111111".to_string(), None))
        );
        assert_eq!(
            frontier.done(&objects[4]),
            Some(("222222222222".to_string(), None))
        );
    }

    #[test]
    fn objects_out_of_order_close_nothing_early() {
        let objects = [
            object("111111111111", "2024-03-02"),
            object("111111111111", "2024-03-01"),
        ];
        let mut frontier = DeliveryFrontier::new(&objects).expect("layouts");
        assert_eq!(frontier.done(&objects[0]), None);
        assert_eq!(
            frontier.done(&objects[1]),
            Some(("111111111111".to_string(), None))
        );
    }

    #[test]
    fn no_layout_no_early_closing() {
        let objects = [
            object("111111111111", "2024-03-01"),
            SourceObject::for_test(None),
        ];
        assert!(DeliveryFrontier::new(&objects).is_none());
    }
}
