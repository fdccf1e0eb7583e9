//! The state of one window feature for one key, in either layout, and its
//! part of the look-ahead protocol: the ends of its buffer (where updates
//! and queries start) at [`Link::Buffers`], a distinct count's value index
//! at [`Link::Indexes`] and its newest bucket's values at
//! [`Link::ValueProbes`].

use std::collections::VecDeque;

use verdict_rules::input::Transaction;

use crate::lookahead::{Link, Lookahead};
use crate::search::Cursor;
use crate::window::aggregate::{Agg, Layout};
use crate::window::bucketed::BucketedWindow;
use crate::window::distinct::{DistinctParts, NewestIndex};
use crate::window::exact::ExactWindow;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WindowState {
    Exact(ExactWindow),
    Bucketed(BucketedWindow),
}

impl WindowState {
    /// The state of a key with no events.
    pub(super) fn empty(agg: Agg, layout: Layout) -> Self {
        match layout {
            Layout::Exact => WindowState::Exact(ExactWindow::new(i64::MIN, VecDeque::new())),
            Layout::Bucketed { .. } => WindowState::Bucketed(BucketedWindow {
                max_time: i64::MIN,
                buckets: VecDeque::new(),
                distinct: (agg == Agg::Distinct).then(|| {
                    Box::new(DistinctParts {
                        sets: VecDeque::new(),
                        newest: Some(NewestIndex::default()),
                    })
                }),
                start: Cursor::default(),
            }),
        }
    }

    /// The largest event time seen.
    pub(super) fn max_time(&self) -> i64 {
        match self {
            WindowState::Exact(s) => s.max_time,
            WindowState::Bucketed(s) => s.max_time,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            WindowState::Exact(s) => s.events.is_empty(),
            WindowState::Bucketed(s) => s.buckets.is_empty(),
        }
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        match self {
            WindowState::Exact(s) => 48 + s.events.len() * 16,
            WindowState::Bucketed(s) => s.approx_bytes(),
        }
    }
}

impl Lookahead for WindowState {
    fn prefetch(&self, link: Link, _txn: &dyn Transaction) {
        match (link, self) {
            (Link::Buffers, WindowState::Exact(s)) => s.prefetch_buffers(),
            (Link::Buffers, WindowState::Bucketed(s)) => s.prefetch_buffers(),
            (Link::Indexes, WindowState::Bucketed(s)) => s.prefetch_index(),
            (Link::ValueProbes, WindowState::Bucketed(s)) => s.prefetch_values(),
            _ => {}
        }
    }
}
