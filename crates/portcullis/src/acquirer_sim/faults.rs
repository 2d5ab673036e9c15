//! `--fault KIND:PERCENT`: which fault strikes a request, by chance.

use rand::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Drop,
    Late,
    Close,
    Garbage,
    Duplicate,
}

impl Fault {
    fn parse(name: &str) -> Option<Fault> {
        Some(match name {
            "drop" => Fault::Drop,
            "late" => Fault::Late,
            "close" => Fault::Close,
            "garbage" => Fault::Garbage,
            "duplicate" => Fault::Duplicate,
            _ => return None,
        })
    }
}

/// The faults asked for, each with its chance in percent (their sum at most
/// 100).
#[derive(Debug, Default)]
pub struct Faults(Vec<(Fault, u32)>);

impl Faults {
    pub fn parse(specs: &[String]) -> anyhow::Result<Faults> {
        let mut faults = Vec::new();
        for spec in specs {
            let parsed = spec.split_once(':').and_then(|(kind, percent)| {
                Some((
                    Fault::parse(kind)?,
                    percent.parse::<u32>().ok().filter(|p| *p <= 100)?,
                ))
            });
            let Some(fault) = parsed else {
                anyhow::bail!("--fault {spec}: expected KIND:PERCENT with KIND one of drop, late, close, garbage, duplicate and PERCENT 0-100");
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

    /// The fault for one request, or none.
    pub fn roll(&self) -> Option<Fault> {
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
        let all = Faults::parse(&["drop:100".to_owned()]).unwrap();
        assert!((0..50).all(|_| all.roll() == Some(Fault::Drop)));
        let none = Faults::parse(&["late:0".to_owned()]).unwrap();
        assert!((0..50).all(|_| none.roll().is_none()));
        for bad in ["drop", "drop:101", "boom:5", "drop:x"] {
            assert!(Faults::parse(&[bad.to_owned()]).is_err(), "{bad}");
        }
        assert!(Faults::parse(&["drop:60".to_owned(), "close:50".to_owned()]).is_err());
    }
}
