//! The population's make-up beyond the base customers: traffic unlike the
//! one the default model was trained on, to test that decisions hold up.
//!
//! Each share is a fraction of the users. With every share zero (the
//! default) the population and its stream are the base generator's, byte
//! for byte: the kinds are drawn from a generator of their own, and a
//! regular user's events draw nothing more than before.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::population::{COUNTRIES, Kind, Merchant, Population, User, random_ip};

/// Population parameters (`verdict generate --newcomers … --realistic`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mix {
    /// Users who join during the data, at an event time spread evenly over
    /// `join_span_ms` after the start: their first transactions are in it,
    /// with no history behind them.
    pub newcomers: f64,
    pub join_span_ms: i64,
    /// Business accounts: 100+ transactions a day, many merchants, several
    /// devices, larger amounts.
    pub business: f64,
    /// Transit riders: many small contactless fares (MCC 4111).
    pub transit: f64,
    /// Travellers: one week in four abroad, transacting there.
    pub travellers: f64,
    /// Users in households of 2–5 that share a device and an IP.
    pub families: f64,
}

/// How much more often than a regular customer each kind transacts.
pub fn activity_factor(kind: Kind) -> f64 {
    match kind {
        Kind::Business => 120.0,
        Kind::TransitRider => 4.0,
        Kind::Regular | Kind::Traveller => 1.0,
    }
}

/// A fare rides a transit rider's card this often.
pub const FARE_SHARE: f64 = 0.6;

impl Mix {
    /// A population like a buy-now-pay-later provider's: a third of the
    /// customers join during the data, a few business accounts, transit
    /// riders, travellers and families.
    pub fn realistic(join_span_ms: i64) -> Mix {
        Mix {
            newcomers: 0.3,
            join_span_ms,
            business: 0.003,
            transit: 0.1,
            travellers: 0.05,
            families: 0.1,
        }
    }

    /// True when every share is zero: the base population.
    pub fn is_base(&self) -> bool {
        [
            self.newcomers,
            self.business,
            self.transit,
            self.travellers,
            self.families,
        ]
        .iter()
        .all(|&s| s <= 0.0)
    }

    /// Gives `pop`'s users their kinds, join times and households.
    pub fn apply(&self, pop: &mut Population, seed: u64, start_ms: i64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d69_785f_6b69_6e64);
        if self.transit > 0.0 {
            pop.transit = (0..COUNTRIES.len())
                .map(|country| {
                    pop.add_merchant(Merchant {
                        id: format!("m-transit-{}", COUNTRIES[country].code),
                        mcc: "4111",
                        channel: "contactless",
                        country,
                    })
                })
                .collect();
        }
        let (b, t, v) = (self.business, self.transit, self.travellers);
        for i in 0..pop.users.len() {
            let x: f64 = rng.random();
            let kind = if x < b {
                Kind::Business
            } else if x < b + t {
                Kind::TransitRider
            } else if x < b + t + v {
                Kind::Traveller
            } else {
                Kind::Regular
            };
            let joins = rng.random_bool(self.newcomers.clamp(0.0, 1.0));
            let joins_at = start_ms + rng.random_range(0..self.join_span_ms.max(1));
            let extra: Vec<u32> = if kind == Kind::Business {
                let country = pop.users[i].country;
                (0..rng.random_range(20..40))
                    .map(|_| pop.local_merchant(&mut rng, country))
                    .collect()
            } else {
                Vec::new()
            };
            let u = &mut pop.users[i];
            u.kind = kind;
            if joins {
                u.joins_at_ms = joins_at;
            }
            if kind == Kind::Business {
                u.favourites.extend(extra);
                u.devices
                    .extend((0..rng.random_range(2..5)).map(|d| format!("d{i}-b{d}")));
                u.typical_amount = (u.typical_amount * 3.0).min(5_000.0);
            }
        }
        self.households(&mut pop.users, &mut rng);
    }

    /// Consecutive users grouped into households of 2–5 that share a
    /// device, an IP, a country and a home.
    fn households(&self, users: &mut [User], rng: &mut ChaCha8Rng) {
        // A household starts at a user with this probability; 3.5 members
        // on average make the share of users in one about `families`.
        let start = (self.families / 3.5).clamp(0.0, 1.0);
        let (mut i, mut k) = (0, 0);
        while i < users.len() {
            if !rng.random_bool(start) {
                i += 1;
                continue;
            }
            let size = rng.random_range(2..=5).min(users.len() - i);
            let (device, ip) = (format!("dh{k}"), random_ip(rng));
            let (country, home) = (users[i].country, users[i].home);
            for u in &mut users[i..i + size] {
                u.devices.push(device.clone());
                u.ip.clone_from(&ip);
                u.country = country;
                u.home = home;
            }
            i += size;
            k += 1;
        }
    }
}

/// How long a traveller is in the air at each end of a trip, transacting
/// nowhere: half the Earth's circumference in a day is 834 km/h, so the jump
/// between home and abroad is an airliner's, not an impossible one.
pub const FLIGHT_MS: i64 = 86_400_000;

/// True while a traveller flies out (the first day of a trip week) or back
/// (the first day of the week after): they make no transaction then.
pub fn in_flight(u: &User, index: u32, now_ms: i64) -> bool {
    const WEEK_MS: i64 = 7 * 86_400_000;
    if u.kind != Kind::Traveller || now_ms.rem_euclid(WEEK_MS) >= FLIGHT_MS {
        return false;
    }
    let week = now_ms.div_euclid(WEEK_MS);
    let trip = |w: i64| (w + i64::from(index)).rem_euclid(4) == 0;
    trip(week) || trip(week - 1)
}

/// The country a traveller is in at `now_ms`, when abroad: one week in four
/// (which week depends on the user), in a country that changes each trip.
pub fn trip_country(u: &User, index: u32, now_ms: i64) -> Option<usize> {
    if u.kind != Kind::Traveller {
        return None;
    }
    let week = now_ms.div_euclid(7 * 86_400_000);
    if (week + i64::from(index)).rem_euclid(4) != 0 {
        return None;
    }
    let n = COUNTRIES.len() as i64;
    Some(((u.country as i64 + 1 + week.rem_euclid(n - 1)) % n) as usize)
}
