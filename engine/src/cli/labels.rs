//! `verdict labels`: fraud labels through the `labels` topic.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use verdict_engine::labels::{self, LABELS_TOPIC};

use super::assets::runtime;

#[derive(Args)]
pub struct LabelsArgs {
    #[command(subcommand)]
    command: LabelsCommand,
}

#[derive(Subcommand)]
enum LabelsCommand {
    /// Send a labels file (CSV or JSON lines) to the labels topic, stamped
    /// `labelled_at` now.
    Publish {
        #[arg(long)]
        brokers: String,
        #[arg(long, default_value = LABELS_TOPIC)]
        topic: String,
        #[arg(long)]
        labels: PathBuf,
        /// Create the topic first if it is missing, with this many
        /// partitions (replication 1: for a development cluster).
        #[arg(long)]
        create_partitions: Option<i32>,
    },
    /// Read the labels topic from its beginning to its end and write the
    /// newest label of each transaction (JSON lines) for `verdict train`.
    Pull {
        #[arg(long)]
        brokers: String,
        #[arg(long, default_value = LABELS_TOPIC)]
        topic: String,
        #[arg(long)]
        output: PathBuf,
        /// Give up if the end is not reached in this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
}

pub fn run(args: LabelsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        LabelsCommand::Publish {
            brokers,
            topic,
            labels,
            create_partitions,
        } => {
            let sent = runtime()?.block_on(async {
                if let Some(n) = create_partitions {
                    labels::create_topic(&brokers, &topic, n).await?;
                }
                labels::publish(&brokers, &topic, &labels).await
            })?;
            println!("published {sent} labels to {topic}");
        }
        LabelsCommand::Pull {
            brokers,
            topic,
            output,
            timeout_secs,
        } => {
            let p = labels::pull(&brokers, &topic, &output, Duration::from_secs(timeout_secs))?;
            println!(
                "read {} records from {topic}: {} labels ({} fraud) written to {}; {} malformed records skipped",
                p.records,
                p.labels,
                p.fraud,
                output.display(),
                p.malformed
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
