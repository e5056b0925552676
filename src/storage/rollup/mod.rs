//! Hourly roll-ups: maintained in the ingest transaction from the records
//! actually inserted (`write`), read by stats in O(buckets) (`read`).

mod read;
mod write;

pub use read::*;
pub use write::*;

/// Hours per row of the block actor tables. A window reads the hours before
/// its first whole block hourly and the rest by block.
pub const ACTOR_BLOCK_HOURS: i64 = 8;

/// The first hour of the block holding `hour`.
pub fn block_of(hour: i64) -> i64 {
    hour - hour.rem_euclid(ACTOR_BLOCK_HOURS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_starts_at_a_multiple_of_its_length_at_or_before_the_hour() {
        assert_eq!(block_of(0), 0);
        assert_eq!(block_of(7), 0);
        assert_eq!(block_of(8), 8);
        assert_eq!(block_of(498_677), 498_672);
        // Before 1970 too: the block still holds the hour.
        assert_eq!(block_of(-1), -8);
        assert_eq!(block_of(-8), -8);
    }
}
