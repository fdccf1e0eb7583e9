//! `verdict generate`: synthetic traffic with labelled fraud, to a file or
//! to Kafka.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use verdict_engine::generate::{self, GeneratorConfig, Mix};

use super::assets::runtime;

#[derive(Args)]
pub struct GenerateArgs {
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// JSON-lines output file (one transaction per line).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Labels file (CSV: transaction_id,is_fraud,scenario).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Produce to Kafka instead of a file.
    #[arg(long)]
    brokers: Option<String>,
    #[arg(long, default_value = "transactions")]
    topic: String,
    /// Messages per second to Kafka (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 10_000)]
    users: u32,
    #[arg(long, default_value_t = 0.004)]
    fraud_rate: f64,
    #[arg(long, default_value_t = 0.0)]
    malformed_rate: f64,
    /// Simulated event rate (events per second of event time).
    #[arg(long, default_value_t = 200.0)]
    events_per_sec: f64,
    /// Event time of the first event: RFC 3339, or `now` for live traffic
    /// (with `--events-per-sec` equal to `--rate`, event time then keeps
    /// pace with the clock, as the engine's timestamp checks expect).
    #[arg(long, default_value = "2026-01-01T00:00:00Z")]
    start: String,
    /// Transaction ids are `<prefix>-<n>`: give a later run over the same
    /// users another prefix so its ids do not repeat the first run's.
    #[arg(long, default_value = "t")]
    id_prefix: String,
    #[command(flatten)]
    mix: MixArgs,
}

/// The population's make-up (`verdict_engine::generate::Mix`): shares of
/// the users. Without any, the base population.
#[derive(Args)]
struct MixArgs {
    /// Start from a realistic make-up (a third newcomers, 0.3 % business
    /// accounts, 10 % transit riders, 5 % travellers, 10 % in families);
    /// the flags below override its shares.
    #[arg(long)]
    realistic: bool,
    /// Users who join during the data (their first transactions in it).
    #[arg(long)]
    newcomers: Option<f64>,
    /// Newcomers join evenly over this many days after --start.
    #[arg(long, default_value_t = 30.0)]
    join_span_days: f64,
    /// Business accounts: 100+ transactions a day, many merchants and devices.
    #[arg(long)]
    business: Option<f64>,
    /// Transit riders: many small contactless fares.
    #[arg(long)]
    transit: Option<f64>,
    /// Travellers: one week in four abroad.
    #[arg(long)]
    travellers: Option<f64>,
    /// Users in households of 2–5 sharing a device and an IP.
    #[arg(long)]
    families: Option<f64>,
}

impl MixArgs {
    fn mix(&self) -> anyhow::Result<Mix> {
        let span = (self.join_span_days * 86_400_000.0) as i64;
        let mut mix = if self.realistic {
            Mix::realistic(span)
        } else {
            Mix {
                join_span_ms: span,
                ..Mix::default()
            }
        };
        for (name, share, slot) in [
            ("--newcomers", self.newcomers, &mut mix.newcomers),
            ("--business", self.business, &mut mix.business),
            ("--transit", self.transit, &mut mix.transit),
            ("--travellers", self.travellers, &mut mix.travellers),
            ("--families", self.families, &mut mix.families),
        ] {
            if let Some(v) = share {
                anyhow::ensure!(
                    (0.0..=1.0).contains(&v),
                    "{name} {v}: a share of the users, 0 to 1"
                );
                *slot = v;
            }
        }
        anyhow::ensure!(
            mix.business + mix.transit + mix.travellers <= 1.0,
            "--business, --transit and --travellers add up to more than all users"
        );
        Ok(mix)
    }
}

/// `--start`: `now`, or an RFC 3339 time, in epoch milliseconds.
fn start_ms(start: &str) -> anyhow::Result<i64> {
    if start.eq_ignore_ascii_case("now") {
        return Ok(chrono::Utc::now().timestamp_millis());
    }
    Ok(chrono::DateTime::parse_from_rfc3339(start)
        .with_context(|| format!("--start {start:?}: expected `now` or an RFC 3339 time"))?
        .timestamp_millis())
}

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let start_ms = start_ms(&args.start)?;
    let cfg = GeneratorConfig {
        seed: args.seed,
        users: args.users,
        fraud_rate: args.fraud_rate,
        malformed_rate: args.malformed_rate,
        start_ms,
        events_per_sec: args.events_per_sec,
        id_prefix: args.id_prefix,
        mix: args.mix.mix()?,
        ..Default::default()
    };
    let summary = match args.brokers {
        Some(brokers) => runtime()?.block_on(generate::sink::to_kafka(
            cfg,
            args.count,
            &brokers,
            &args.topic,
            args.rate,
            args.labels.as_deref(),
        ))?,
        None => {
            let output = args.output.context("--output or --brokers is required")?;
            generate::sink::to_file(cfg, args.count, &output, args.labels.as_deref())?
        }
    };
    eprintln!("{summary}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::start_ms;

    #[test]
    fn start_is_now_or_an_rfc3339_time() {
        let before = chrono::Utc::now().timestamp_millis();
        let now = start_ms("now").unwrap();
        assert!(now >= before && now <= chrono::Utc::now().timestamp_millis());
        assert_eq!(start_ms("2026-01-01T00:00:00Z").unwrap(), 1_767_225_600_000);
        assert!(start_ms("yesterday").is_err());
    }
}
