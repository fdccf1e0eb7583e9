//! What every partition worker of an engine shares: the dataflow, the
//! configuration, the Kafka clients and the engine's status, built once by
//! the router (`run.rs`) and handed to each worker it starts.

use std::sync::Arc;

use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::FutureProducer;
use tokio::sync::Notify;

use super::changelog::Fencing;
use super::context::EngineContext;
use super::rekey::AnswerRouter;
use crate::config::Config;
use crate::dataflow::Dataflow;
use crate::recent::RecentDecisions;
use crate::rekey::RekeyPlan;
use crate::status::EngineStatus;

/// Everything a worker needs besides its partition.
#[derive(Clone)]
pub struct WorkerDeps {
    pub dataflow: Dataflow,
    pub config: Arc<Config>,
    pub consumer: Arc<StreamConsumer<EngineContext>>,
    pub producer: FutureProducer,
    /// How the partitions' changelog writers send their copies: each a
    /// transaction of a producer of its own, or (`state.changelog-transactions
    /// = false`) through one producer they share.
    pub changelog: Fencing,
    /// Set when a worker fails; the engine shuts down with an error.
    pub failure: Arc<std::sync::Mutex<Option<anyhow::Error>>>,
    pub fail_notify: Arc<Notify>,
    pub status: Arc<EngineStatus>,
    pub decisions: Arc<RecentDecisions>,
    /// The re-keying hop's fields (fixed at start) and, when it has any,
    /// the router of its answers to this instance's homes.
    pub plan: RekeyPlan,
    pub answers: Option<Arc<AnswerRouter>>,
}
