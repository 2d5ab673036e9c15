//! The bundled list of common passwords (see the header of
//! `common_passwords.txt` for its source), looked up without case.

use std::collections::HashSet;
use std::sync::OnceLock;

const LIST: &str = include_str!("common_passwords.txt");

fn list() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        LIST.lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    })
}

/// True when `password`, in lower case, is on the list.
pub fn is_common_password(password: &str) -> bool {
    list().contains(password.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_list_is_the_real_one() {
        assert!(super::list().len() > 29_000);
        assert!(super::is_common_password("password"));
        assert!(super::is_common_password("1QAZ2WSX3EDC"));
        assert!(!super::is_common_password("violet kettle drum 42"));
    }
}
