//! The sweep's outputs besides the CSV: the latency-against-throughput
//! chart and the README's table.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::{Args, Mode, Row};

pub fn plot(args: &Args, rows: &[Row]) -> anyhow::Result<()> {
    let line = |mode: Mode, q: fn(&Row) -> u64| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|r| r.mode == mode)
            .map(|r| (f64::from(r.rate), q(r) as f64))
            .collect()
    };
    let mut series = vec![
        ("engine p50".to_string(), line(Mode::Engine, |r| r.p50)),
        ("engine p99".to_string(), line(Mode::Engine, |r| r.p99)),
        ("engine p99.9".to_string(), line(Mode::Engine, |r| r.p999)),
        ("broker floor p99".to_string(), line(Mode::Floor, |r| r.p99)),
    ];
    series.retain(|(_, points)| !points.is_empty());
    let top = rows.iter().map(|r| f64::from(r.rate)).fold(1.0, f64::max);
    series.push((
        format!("SLA {} ms", args.sla_ms),
        vec![(0.0, args.sla_ms as f64), (top, args.sla_ms as f64)],
    ));
    let through = match &args.brokers {
        Some(_) => "the broker".to_string(),
        None => format!("tansu ({})", args.storage),
    };
    verdict_models::plots::plot_log_lines(
        &args.out.join("sweep.png"),
        &format!("produce → decision latency through {through}"),
        "offered rate (transactions/s)",
        "latency (ms, record timestamps)",
        0.5,
        &series,
    )
    .map_err(|e| anyhow::anyhow!("drawing sweep.png: {e}"))
}

/// The README's table: the engine's rows with the floor's p99 beside them.
pub fn markdown(rows: &[Row], sla_ms: u64) -> String {
    let floor: HashMap<u32, &Row> = rows
        .iter()
        .filter(|r| r.mode == Mode::Floor)
        .map(|r| (r.rate, r))
        .collect();
    let mut out = String::from(
        "| rate/s | decided/s | p50 | p90 | p99 | p99.9 | max | floor p99 | engine share of p99 | SLA misses | degraded | engine CPU | engine RSS | broker CPU |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows.iter().filter(|r| r.mode == Mode::Engine) {
        let (floor_p99, share) = match floor.get(&r.rate) {
            Some(f) => (
                format!("{} ms", f.p99),
                format!("{} ms", r.p99 as i64 - f.p99 as i64),
            ),
            None => ("–".into(), "–".into()),
        };
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} ms | {} ms | {} ms | {} ms | {} ms | {floor_p99} | {share} | {} | {} | {:.0} % | {:.0} MiB | {} |{}",
            r.rate,
            r.throughput,
            r.p50,
            r.p90,
            r.p99,
            r.p999,
            r.max,
            r.sla_misses,
            r.degraded,
            r.target_cpu,
            r.target_rss_mib,
            r.broker_cpu.map_or("–".into(), |c| format!("{c:.0} %")),
            if r.p99 > sla_ms || !r.kept_up {
                " (stopped here)"
            } else {
                ""
            }
        );
    }
    out
}
