//! What the fuzz targets and the stream tests drive `eval` with: random requests for every
//! op ([`generate`]) and a check that two answers to one request agree ([`compare`]), so
//! that the fused and composed paths can be held to each other on inputs no fixture has.

pub mod compare;
pub mod generate;

pub use compare::agree;
pub use generate::{Choices, request};

/// [`Choices`] from a seeded generator, for tests.
pub struct Seeded(pub rand::rngs::StdRng);

impl Choices for Seeded {
    fn below(&mut self, n: u32) -> u32 {
        use rand::Rng;
        self.0.random_range(0..n.max(1))
    }
}
