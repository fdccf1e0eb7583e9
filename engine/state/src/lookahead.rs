//! The look-ahead protocol of a batch (`PartitionState::process_batch`).
//!
//! The per-event cost is dominated by memory latency into a hot set far
//! larger than the CPU caches. The state one event reads is a chain of
//! dependent loads: the hot-table slot of each of its keys, the entity's
//! cells, the buffers each cell points to, the history's arrays and the
//! distinct counts' value indexes, where the event's own values lie in
//! them, and the days of the values found. Each load's address is only
//! known once the previous one has arrived, so no single prefetch can reach
//! the end of the chain.
//!
//! While one event is computed, the next [`LOOKAHEAD_EVENTS`] are therefore
//! prefetched one [`Link`] each, the farther the event the earlier its
//! link: by the time an event is processed, each link was pulled in one
//! event after the link it depends on, and its loads hit the cache. The
//! links are issued nearest first ([`Link::NEAREST_FIRST`]).
//!
//! States on the chain implement [`Lookahead`]: each pulls in its own part
//! of a link and ignores the links that do not reach it. The partition
//! drives the protocol over its key fields and entities (the table slots
//! and cells are its own); windows and the history prefetch what lies
//! behind their cells.

use verdict_rules::input::Transaction;

/// One link of the chain, named by what it pulls in. Its discriminant is
/// how many events ahead of the current one it is prefetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// The days of the seen values the event's search found (the history's
    /// seen sets only).
    FoundValues = 1,
    /// Where the event's own values are searched: the line of each seen
    /// set's hashes where a uniform hash is expected, a bucketed distinct
    /// count's newest values.
    ValueProbes = 2,
    /// The history's days and running totals where its reads start and its
    /// seen sets' headers; distinct counts' value indexes.
    Indexes = 3,
    /// The ends of the buffers the cells point to, where updates and
    /// queries start, and the history's header.
    Buffers = 4,
    /// The entity's cells, at the table slot found by the batch's up-front
    /// pass.
    Cells = 5,
    /// The hot-table slots of the event's keys (open addressing: a key's
    /// slot follows from its hash, with no load).
    TableSlots = 6,
}

/// Events ahead of the current one whose state is prefetched.
pub const LOOKAHEAD_EVENTS: usize = 6;

impl Link {
    /// Every link in the order a batch issues them for each event.
    pub(crate) const NEAREST_FIRST: [Link; LOOKAHEAD_EVENTS] = [
        Link::FoundValues,
        Link::ValueProbes,
        Link::Indexes,
        Link::Buffers,
        Link::Cells,
        Link::TableSlots,
    ];

    /// Events ahead of the current one this link is prefetched.
    #[inline]
    pub(crate) const fn ahead(self) -> usize {
        self as usize
    }

    /// The links whose targets depend on the event's values: only states
    /// that look values up (seen sets, bucketed distinct counts) take them.
    #[inline]
    pub(crate) const fn looks_up_values(self) -> bool {
        matches!(self, Link::FoundValues | Link::ValueProbes)
    }
}

/// A state on the look-ahead chain.
pub(crate) trait Lookahead {
    /// Pulls this state's part of `link` for the event `txn` toward the
    /// core, changing nothing.
    fn prefetch(&self, link: Link, txn: &dyn Transaction);
}
