//! The allocator the engine's binaries run on.
//!
//! The hot state is hundreds of megabytes of small structures read at random
//! (one entity per key field per event). With 4 KiB pages nearly every such
//! read also misses the TLB; glibc's allocator does not ask for transparent
//! huge pages, and where THP is `madvise`-only (Debian's default) the heap
//! never gets them. jemalloc with `thp:always` madvises its arenas for huge
//! pages, and its small-object allocation is faster than glibc's on the
//! per-event and checkpoint paths. `cargo bench -p verdict-state --bench
//! state` measured the per-event cost about 20% lower with it.
//!
//! A library cannot choose the global allocator; each binary (the `verdict`
//! CLI, the benches, the load harness) invokes [`engine_allocator!`] once.

pub use tikv_jemallocator::Jemalloc;

/// jemalloc options, read at its initialisation (NUL-terminated).
pub const MALLOC_CONF: &[u8] = b"thp:always,metadata_thp:auto\0";

/// Installs jemalloc with [`MALLOC_CONF`] as the binary's global allocator.
#[macro_export]
macro_rules! engine_allocator {
    () => {
        #[global_allocator]
        static GLOBAL_ALLOCATOR: $crate::Jemalloc = $crate::Jemalloc;

        /// Read by jemalloc at start-up (its `malloc_conf` symbol).
        #[allow(non_upper_case_globals)]
        #[unsafe(export_name = "_rjem_malloc_conf")]
        pub static malloc_conf: &[u8] = $crate::MALLOC_CONF;
    };
}
