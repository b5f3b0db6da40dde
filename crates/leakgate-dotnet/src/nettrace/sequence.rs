//! Dropped-event detection from per-thread sequence numbers.
//!
//! Every capture thread numbers the events it tries to log 1, 2, 3, ...,
//! whether EventPipe manages to store them or drops them because the session
//! buffer is full. So a gap between consecutive events of one capture thread
//! is that many dropped events; and a sequence point block lists, per thread,
//! a lower bound of the last number used, which reveals events dropped after
//! the last one we saw (a thread whose buffer stayed full). This follows
//! TraceEvent's `EventCache`.

use std::collections::HashMap;

use super::error::NettraceError;
use super::format;

/// Counts events the writer numbered but the stream does not hold.
#[derive(Debug, Default, Clone)]
pub struct SequenceTracker {
    last_seen: HashMap<u64, u32>,
    dropped: u64,
}

impl SequenceTracker {
    /// Events known to be missing so far.
    pub fn dropped_events(&self) -> u64 {
        self.dropped
    }

    /// An event of `capture_thread` numbered `sequence`.
    pub fn on_event(
        &mut self,
        capture_thread: u64,
        sequence: u32,
        offset: u64,
    ) -> Result<(), NettraceError> {
        match self.last_seen.get(&capture_thread).copied() {
            // The first event we see of a thread: nothing to compare with.
            None => self.insert(capture_thread, sequence, offset)?,
            Some(last) => {
                let expected = last.wrapping_add(1);
                // Back to 1: the OS reused the id of a thread that ended.
                if sequence != expected && sequence != 1 {
                    let gap = sequence.wrapping_sub(expected) as i32;
                    // Going backwards cannot happen in a sound stream; count it
                    // as a loss so the dump is not trusted as complete.
                    self.dropped += u64::try_from(gap).unwrap_or(1);
                }
                self.last_seen.insert(capture_thread, sequence);
            }
        }
        Ok(())
    }

    /// A sequence point: each listed thread had used at least this number.
    pub fn on_sequence_point(
        &mut self,
        capture_thread: u64,
        sequence: u32,
        offset: u64,
    ) -> Result<(), NettraceError> {
        match self.last_seen.get(&capture_thread).copied() {
            None => self.insert(capture_thread, sequence, offset)?,
            Some(last) => {
                let gap = sequence.wrapping_sub(last) as i32;
                if gap > 0 {
                    self.dropped += gap as u64;
                    self.last_seen.insert(capture_thread, sequence);
                }
            }
        }
        Ok(())
    }

    fn insert(&mut self, thread: u64, sequence: u32, offset: u64) -> Result<(), NettraceError> {
        if self.last_seen.len() >= format::MAX_TRACKED_THREADS {
            return Err(NettraceError::malformed(
                offset,
                format!(
                    "events from more than {} capture threads",
                    format::MAX_TRACKED_THREADS
                ),
            ));
        }
        self.last_seen.insert(thread, sequence);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(events: &[(u64, u32)]) -> SequenceTracker {
        let mut t = SequenceTracker::default();
        for &(thread, seq) in events {
            t.on_event(thread, seq, 0).unwrap();
        }
        t
    }

    #[test]
    fn consecutive_numbers_per_thread_drop_nothing() {
        let t = track(&[(7, 1), (9, 5), (7, 2), (9, 6), (7, 3)]);
        assert_eq!(t.dropped_events(), 0);
    }

    #[test]
    fn a_gap_is_that_many_dropped_events() {
        assert_eq!(track(&[(7, 1), (7, 2), (7, 6)]).dropped_events(), 3);
        // Across the u32 wrap.
        assert_eq!(track(&[(7, u32::MAX - 1), (7, 1)]).dropped_events(), 0);
        assert_eq!(track(&[(7, u32::MAX - 1), (7, 2)]).dropped_events(), 3);
    }

    #[test]
    fn a_restart_at_one_is_a_new_thread_not_a_drop() {
        assert_eq!(
            track(&[(7, 40), (7, 41), (7, 1), (7, 2)]).dropped_events(),
            0
        );
    }

    #[test]
    fn a_backwards_jump_is_counted_as_a_loss() {
        assert_eq!(track(&[(7, 40), (7, 30)]).dropped_events(), 1);
    }

    #[test]
    fn sequence_points_reveal_drops_after_the_last_event_seen() {
        let mut t = track(&[(7, 1), (7, 2)]);
        t.on_sequence_point(7, 2, 0).unwrap();
        assert_eq!(t.dropped_events(), 0);
        t.on_sequence_point(7, 10, 0).unwrap();
        assert_eq!(t.dropped_events(), 8);
        // The next event continues from the point's number.
        t.on_event(7, 11, 0).unwrap();
        assert_eq!(t.dropped_events(), 8);
        // A lower bound below what we saw says nothing.
        t.on_sequence_point(7, 3, 0).unwrap();
        assert_eq!(t.dropped_events(), 8);
        // A thread we never saw an event from starts at its point.
        t.on_sequence_point(9, 50, 0).unwrap();
        t.on_event(9, 52, 0).unwrap();
        assert_eq!(t.dropped_events(), 9);
    }
}
