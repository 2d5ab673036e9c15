//! `--fault KIND:PERCENT`: which fault strikes a request, by chance. Shared
//! by the simulators (`acquirer-sim`, `processor-sim`), each with its own
//! set of kinds ([`FaultKind`]).

use rand::Rng;

/// A simulator's set of fault kinds.
pub trait FaultKind: Copy + std::fmt::Debug + PartialEq + Sized + 'static {
    /// Every kind with its `--fault` name.
    const KINDS: &'static [(&'static str, Self)];

    fn parse(name: &str) -> Option<Self> {
        Self::KINDS
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, kind)| *kind)
    }

    fn name(self) -> &'static str {
        Self::KINDS
            .iter()
            .find(|(_, kind)| *kind == self)
            .map_or("?", |(name, _)| name)
    }
}

/// The faults of `acquirer-sim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Drop,
    Late,
    Close,
    Garbage,
    Duplicate,
}

impl FaultKind for Fault {
    const KINDS: &'static [(&'static str, Fault)] = &[
        ("drop", Fault::Drop),
        ("late", Fault::Late),
        ("close", Fault::Close),
        ("garbage", Fault::Garbage),
        ("duplicate", Fault::Duplicate),
    ];
}

/// The faults asked for, each with its chance in percent (their sum at most
/// 100).
#[derive(Debug, Clone)]
pub struct Faults<K>(Vec<(K, u32)>);

impl<K> Default for Faults<K> {
    fn default() -> Self {
        Faults(Vec::new())
    }
}

impl<K: FaultKind> Faults<K> {
    pub fn parse(specs: &[String]) -> anyhow::Result<Faults<K>> {
        let mut faults = Vec::new();
        for spec in specs {
            let parsed = spec.split_once(':').and_then(|(kind, percent)| {
                Some((
                    K::parse(kind)?,
                    percent.parse::<u32>().ok().filter(|p| *p <= 100)?,
                ))
            });
            let Some(fault) = parsed else {
                let kinds: Vec<&str> = K::KINDS.iter().map(|(name, _)| *name).collect();
                anyhow::bail!(
                    "--fault {spec}: expected KIND:PERCENT with KIND one of {} and PERCENT 0-100",
                    kinds.join(", ")
                );
            };
            faults.push(fault);
        }
        let total: u32 = faults.iter().map(|(_, percent)| percent).sum();
        anyhow::ensure!(
            total <= 100,
            "--fault percentages add up to {total}, more than 100"
        );
        Ok(Faults(faults))
    }

    /// The faults as `KIND:PERCENT` specs (what `parse` reads).
    pub fn specs(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(kind, percent)| format!("{}:{percent}", kind.name()))
            .collect()
    }

    /// The fault for one request, or none.
    pub fn roll(&self) -> Option<K> {
        if self.0.is_empty() {
            return None;
        }
        let mut roll = rand::thread_rng().gen_range(0..100u32);
        for (fault, percent) in &self.0 {
            if roll < *percent {
                return Some(*fault);
            }
            roll -= percent;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rolls() {
        let all = Faults::<Fault>::parse(&["drop:100".to_owned()]).unwrap();
        assert!((0..50).all(|_| all.roll() == Some(Fault::Drop)));
        assert_eq!(all.specs(), vec!["drop:100".to_owned()]);
        let none = Faults::<Fault>::parse(&["late:0".to_owned()]).unwrap();
        assert!((0..50).all(|_| none.roll().is_none()));
        for bad in ["drop", "drop:101", "boom:5", "drop:x"] {
            assert!(Faults::<Fault>::parse(&[bad.to_owned()]).is_err(), "{bad}");
        }
        assert!(Faults::<Fault>::parse(&["drop:60".to_owned(), "close:50".to_owned()]).is_err());
    }
}
