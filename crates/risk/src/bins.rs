//! Card country and funding by BIN: a table of prefixes (1 to 8 digits),
//! longest match wins. The gateway ships rows only for the BINs of the
//! published test cards (test mode); the operator's file, in the same
//! format, is the only source for every other card. A card no table knows
//! has no country and `unknown` funding: nothing is guessed.
//!
//! Format: one row per line, `prefix,country,funding`; `#` starts a
//! comment; country is ISO 3166 alpha-2 or empty; funding is `credit`,
//! `debit`, `prepaid` or `unknown`.

/// Most rows a table may hold.
pub const BIN_ROWS_MAX: usize = 100_000;

/// The rows shipped for the BINs of the published test cards (Stripe's
/// test cards are US-issued), for test mode only.
pub const SHIPPED_BINS: &str = "\
# prefix,country,funding
424242,US,credit
400000,US,credit
410000,US,credit
400005,US,debit
555555,US,credit
520082,US,debit
378282,US,credit
371449,US,credit
601111,US,credit
";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinInfo {
    pub country: Option<String>,
    pub funding: String,
}

#[derive(Clone, Debug, Default)]
pub struct BinTable {
    /// Sorted by prefix, for binary search.
    rows: Vec<(String, BinInfo)>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("BIN table line {line}: {reason}")]
pub struct BinError {
    pub line: usize,
    pub reason: String,
}

impl BinTable {
    /// The shipped rows: the test cards' BINs.
    pub fn shipped() -> BinTable {
        let mut table = BinTable::default();
        table
            .extend(SHIPPED_BINS)
            .expect("the shipped BIN table parses");
        table
    }

    /// Adds the rows of `text`; a row for a prefix already present replaces it.
    pub fn extend(&mut self, text: &str) -> Result<(), BinError> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (prefix, info) = parse_row(line).map_err(|reason| BinError {
                line: i + 1,
                reason,
            })?;
            match self.rows.binary_search_by(|(p, _)| p.as_str().cmp(&prefix)) {
                Ok(at) => self.rows[at].1 = info,
                Err(at) => {
                    if self.rows.len() >= BIN_ROWS_MAX {
                        return Err(BinError {
                            line: i + 1,
                            reason: format!("more than {BIN_ROWS_MAX} rows"),
                        });
                    }
                    self.rows.insert(at, (prefix, info));
                }
            }
        }
        Ok(())
    }

    /// The row of the longest prefix of `bin`.
    pub fn lookup(&self, bin: &str) -> Option<&BinInfo> {
        (1..=bin.len().min(8)).rev().find_map(|len| {
            let prefix = &bin[..len];
            self.rows
                .binary_search_by(|(p, _)| p.as_str().cmp(prefix))
                .ok()
                .map(|at| &self.rows[at].1)
        })
    }
}

fn parse_row(line: &str) -> Result<(String, BinInfo), String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let [prefix, country, funding] = fields[..] else {
        return Err("expected prefix,country,funding".to_owned());
    };
    if prefix.is_empty() || prefix.len() > 8 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("prefix {prefix:?} must be 1 to 8 digits"));
    }
    if !(country.is_empty()
        || country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(format!("country {country:?} must be two letters or empty"));
    }
    if !matches!(funding, "credit" | "debit" | "prepaid" | "unknown") {
        return Err(format!(
            "funding {funding:?} must be credit, debit, prepaid or unknown"
        ));
    }
    let country = (!country.is_empty()).then(|| country.to_ascii_uppercase());
    Ok((
        prefix.to_owned(),
        BinInfo {
            country,
            funding: funding.to_owned(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins_and_files_override() {
        let mut table = BinTable::shipped();
        assert_eq!(table.lookup("400005").unwrap().funding, "debit");
        assert_eq!(table.lookup("424242").unwrap().funding, "credit");
        table.extend("424242,gb,prepaid # a test row\n").unwrap();
        let row = table.lookup("424242").unwrap();
        assert_eq!(
            (row.country.as_deref(), row.funding.as_str()),
            (Some("GB"), "prepaid")
        );
        assert_eq!(table.lookup("999999"), None);
        // Only the test cards' BINs are known, not whole ranges.
        assert_eq!(BinTable::shipped().lookup("411111"), None);
        assert_eq!(BinTable::shipped().lookup("545454"), None);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let err = BinTable::default()
            .extend("4,US,credit\n\n42x,US,credit")
            .unwrap_err();
        assert_eq!(err.line, 3);
    }
}
