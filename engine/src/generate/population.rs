//! Users and merchants with stable habits.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

#[derive(Debug, Clone, Copy)]
pub struct Country {
    pub code: &'static str,
    pub currency: &'static str,
    pub center: (f64, f64),
    /// Relative share of users.
    pub weight: u32,
}

pub const COUNTRIES: [Country; 14] = [
    Country {
        code: "US",
        currency: "USD",
        center: (39.8, -98.6),
        weight: 40,
    },
    Country {
        code: "GB",
        currency: "GBP",
        center: (52.5, -1.5),
        weight: 12,
    },
    Country {
        code: "DE",
        currency: "EUR",
        center: (51.0, 10.0),
        weight: 10,
    },
    Country {
        code: "FR",
        currency: "EUR",
        center: (46.5, 2.5),
        weight: 8,
    },
    Country {
        code: "CA",
        currency: "CAD",
        center: (45.5, -75.0),
        weight: 6,
    },
    Country {
        code: "ES",
        currency: "EUR",
        center: (40.2, -3.7),
        weight: 5,
    },
    Country {
        code: "AU",
        currency: "AUD",
        center: (-33.8, 151.0),
        weight: 4,
    },
    Country {
        code: "BR",
        currency: "BRL",
        center: (-23.5, -46.6),
        weight: 4,
    },
    Country {
        code: "IN",
        currency: "INR",
        center: (19.0, 72.8),
        weight: 4,
    },
    Country {
        code: "JP",
        currency: "JPY",
        center: (35.7, 139.7),
        weight: 3,
    },
    Country {
        code: "MX",
        currency: "MXN",
        center: (19.4, -99.1),
        weight: 2,
    },
    Country {
        code: "NG",
        currency: "NGN",
        center: (6.5, 3.4),
        weight: 1,
    },
    Country {
        code: "SG",
        currency: "SGD",
        center: (1.35, 103.8),
        weight: 1,
    },
    Country {
        code: "ZA",
        currency: "ZAR",
        center: (-26.2, 28.0),
        weight: 1,
    },
];

/// (MCC, channel, median amount) of merchant categories.
const CATEGORIES: [(&str, &str, f64); 10] = [
    ("5411", "pos", 45.0),         // grocery
    ("5812", "contactless", 30.0), // restaurants
    ("5814", "contactless", 9.0),  // fast food
    ("5541", "pos", 50.0),         // fuel
    ("5999", "ecommerce", 60.0),   // misc retail
    ("5732", "ecommerce", 250.0),  // electronics
    ("4121", "in_app", 18.0),      // rides
    ("5311", "pos", 80.0),         // department stores
    ("4511", "ecommerce", 400.0),  // airlines
    ("5816", "ecommerce", 15.0),   // digital goods
];

pub struct Merchant {
    pub id: String,
    pub mcc: &'static str,
    pub channel: &'static str,
    pub country: usize,
}

/// What kind of customer a user is ([`super::mix::Mix`]); every user of the
/// base population is `Regular`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    Regular,
    /// 100+ transactions a day across many merchants and devices.
    Business,
    /// Many small contactless fares beside the usual spending.
    TransitRider,
    /// One week in four abroad, transacting there.
    Traveller,
}

pub struct User {
    pub id: String,
    pub kind: Kind,
    /// Before this event time the user has no account (a newcomer);
    /// `i64::MIN` for the base population.
    pub joins_at_ms: i64,
    pub country: usize,
    pub home: (f64, f64),
    pub typical_amount: f64,
    pub cards: Vec<String>,
    pub devices: Vec<String>,
    pub ip: String,
    pub favourites: Vec<u32>,
}

pub struct Population {
    pub users: Vec<User>,
    pub merchants: Vec<Merchant>,
    /// A transit operator per country (index), when the mix has riders.
    pub transit: Vec<u32>,
    /// Merchant ids by country.
    by_country: Vec<Vec<u32>>,
}

fn weighted_country(rng: &mut ChaCha8Rng) -> usize {
    let total: u32 = COUNTRIES.iter().map(|c| c.weight).sum();
    let mut x = rng.random_range(0..total);
    for (i, c) in COUNTRIES.iter().enumerate() {
        if x < c.weight {
            return i;
        }
        x -= c.weight;
    }
    0
}

pub fn jitter(rng: &mut ChaCha8Rng, (lat, lon): (f64, f64), degrees: f64) -> (f64, f64) {
    (
        (lat + rng.random_range(-degrees..=degrees)).clamp(-89.9, 89.9),
        (lon + rng.random_range(-degrees..=degrees)).clamp(-179.9, 179.9),
    )
}

pub fn random_ip(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{}.{}.{}.{}",
        rng.random_range(11..223),
        rng.random_range(0..256),
        rng.random_range(0..256),
        rng.random_range(1..255)
    )
}

pub fn other_country(rng: &mut ChaCha8Rng, home: usize) -> usize {
    (home + rng.random_range(1..COUNTRIES.len())) % COUNTRIES.len()
}

/// A country whose centre is at least 3,000 km from `home`'s.
pub fn far_country(rng: &mut ChaCha8Rng, home: usize) -> usize {
    let far: Vec<usize> = (0..COUNTRIES.len())
        .filter(|&i| haversine_km(COUNTRIES[i].center, COUNTRIES[home].center) > 3_000.0)
        .collect();
    far[rng.random_range(0..far.len())]
}

pub fn haversine_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371.0 * a.sqrt().asin()
}

impl Population {
    pub fn new(rng: &mut ChaCha8Rng, users: u32, merchants: u32) -> Self {
        let merchants: Vec<Merchant> = (0..merchants)
            .map(|i| {
                let (mcc, channel, _) = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
                Merchant {
                    id: format!("m{i}"),
                    mcc,
                    channel,
                    country: weighted_country(rng),
                }
            })
            .collect();
        let mut by_country = vec![Vec::new(); COUNTRIES.len()];
        for (i, m) in merchants.iter().enumerate() {
            by_country[m.country].push(i as u32);
        }
        let mut pop = Population {
            users: Vec::with_capacity(users as usize),
            merchants,
            transit: Vec::new(),
            by_country,
        };
        let typical = LogNormal::new(40f64.ln(), 0.7).expect("valid");
        for i in 0..users {
            let country = weighted_country(rng);
            let home = jitter(rng, COUNTRIES[country].center, 3.0);
            let cards = (0..rng.random_range(1..=3))
                .map(|c| format!("c{i}-{c}"))
                .collect();
            let devices = (0..rng.random_range(1..=2))
                .map(|d| format!("d{i}-{d}"))
                .collect();
            let favourites = (0..rng.random_range(4..12))
                .map(|_| pop.local_merchant(rng, country))
                .collect();
            pop.users.push(User {
                id: format!("u{i}"),
                kind: Kind::Regular,
                joins_at_ms: i64::MIN,
                country,
                home,
                typical_amount: typical.sample(rng).clamp(3.0, 2_000.0),
                cards,
                devices,
                ip: random_ip(rng),
                favourites,
            });
        }
        pop
    }

    /// Adds a merchant; returns its index.
    pub fn add_merchant(&mut self, m: Merchant) -> u32 {
        let i = self.merchants.len() as u32;
        self.by_country[m.country].push(i);
        self.merchants.push(m);
        i
    }

    /// A merchant in `country` (any merchant if the country has none).
    pub fn local_merchant(&self, rng: &mut ChaCha8Rng, country: usize) -> u32 {
        let local = &self.by_country[country];
        if local.is_empty() {
            rng.random_range(0..self.merchants.len() as u32)
        } else {
            local[rng.random_range(0..local.len())]
        }
    }
}
