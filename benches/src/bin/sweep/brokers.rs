//! The broker each rate of the sweep runs against: a fresh tansu process
//! (in-memory storage unless `--storage`), or a broker the caller runs.
//!
//! A fresh broker per rate keeps one rate's records from slowing the next:
//! tansu's in-memory storage lists every batch a partition holds on each
//! fetch, so its latency grows with what its topics hold.

use verdict_tests::Broker;

/// How to get a broker for a rate.
pub enum BrokerChoice {
    /// Every rate on the caller's broker, `--brokers`.
    External(String),
    /// A fresh tansu per rate, on this storage engine.
    FreshTansu(String),
}

impl BrokerChoice {
    pub fn describe(&self) -> String {
        match self {
            BrokerChoice::External(b) => format!("the broker at {b}"),
            BrokerChoice::FreshTansu(storage) => format!("a fresh tansu per rate ({storage})"),
        }
    }

    pub fn start(&self) -> anyhow::Result<RunningBroker> {
        Ok(match self {
            BrokerChoice::External(b) => RunningBroker {
                bootstrap: b.clone(),
                tansu: None,
            },
            BrokerChoice::FreshTansu(storage) => {
                let b = Broker::start_on(storage)?;
                RunningBroker {
                    bootstrap: b.bootstrap.clone(),
                    tansu: Some(b),
                }
            }
        })
    }
}

/// A broker for one rate; a tansu the sweep started stops with it.
pub struct RunningBroker {
    pub bootstrap: String,
    tansu: Option<Broker>,
}

impl RunningBroker {
    /// The broker's process id, when the sweep runs it (for CPU and RSS).
    pub fn pid(&self) -> Option<u32> {
        self.tansu.as_ref().map(Broker::pid)
    }
}
