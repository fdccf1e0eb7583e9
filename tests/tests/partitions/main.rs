//! Partitions that move, against a real broker (tansu): an instance killed
//! with SIGKILL again and again (`crash`), and instances joining, leaving
//! and dying while traffic flows (`mobility`). One test binary, so the two
//! run side by side: both mostly wait on the broker and their engine
//! processes.

mod crash;
mod mobility;
