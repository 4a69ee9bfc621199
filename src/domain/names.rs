//! Computer names of new desktops: given ones are kept as sent; generated ones
//! (a prefix and a random suffix, as Huawei makes them) are distinct within the
//! request, and when the project turns out to have one already (the store
//! checks inside its write), that desktop is renamed and the write tried again.

use rand::Rng as _;
use std::collections::HashSet;

/// Letters a suffix is drawn from (computer names allow letters, digits, `-`).
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Draws of one name before its prefix is judged too long for this many desktops.
const DRAWS: usize = 16;
/// Writes tried before generated names that keep colliding are given up.
pub const WRITES: u32 = 4;

/// How each desktop of a request got its name: `None` given, `Some(prefix)` generated.
pub type Origins = Vec<Option<String>>;

/// Why new desktops cannot have the names asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The prefix leaves too few suffixes for this many desktops.
    #[error(
        "The name prefix {0:?} leaves too few distinct names for this many desktops: use a shorter one."
    )]
    PrefixTooLong(String),
    /// The project has a desktop with this name (given, or generated again and again).
    #[error("A desktop named {0} already exists in this project.")]
    Taken(String),
}

/// A name from `prefix` and a random suffix filling it to 15 characters (at
/// least 2), not among `used` (which then holds it).
pub fn generate<S: std::hash::BuildHasher>(
    prefix: &str,
    used: &mut HashSet<String, S>,
) -> Result<String, NameError> {
    let mut rng = rand::thread_rng();
    let len = 15usize.saturating_sub(prefix.len()).max(2);
    for _ in 0..DRAWS {
        let suffix: String = (0..len)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect();
        let name = format!("{prefix}{suffix}");
        if used.insert(name.clone()) {
            return Ok(name);
        }
    }
    Err(NameError::PrefixTooLong(prefix.to_owned()))
}

/// After a write refused `taken` names: renames the generated ones among
/// `names` (counting `writes`); `Taken` when a given name is taken or
/// generated names kept colliding.
pub fn rename_taken<'a>(
    names: impl Iterator<Item = &'a mut String>,
    origins: &[Option<String>],
    taken: &[String],
    writes: &mut u32,
) -> Result<(), NameError> {
    *writes += 1;
    let names: Vec<&mut String> = names.collect();
    let taken_set: HashSet<&str> = taken.iter().map(String::as_str).collect();
    let mut used: HashSet<String> = names
        .iter()
        .map(|n| (**n).clone())
        .chain(taken.iter().cloned())
        .collect();
    for (name, origin) in names.into_iter().zip(origins) {
        if !taken_set.contains(name.as_str()) {
            continue;
        }
        match origin {
            Some(prefix) if *writes < WRITES => *name = generate(prefix, &mut used)?,
            _ => return Err(NameError::Taken(name.clone())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_fill_fifteen_and_never_repeat() {
        let mut used = HashSet::new();
        for _ in 0..1_000 {
            let n = generate("pool-", &mut used).unwrap();
            assert_eq!(n.len(), 15);
            assert!(n.starts_with("pool-"));
        }
        assert_eq!(used.len(), 1_000);
    }

    #[test]
    fn a_prefix_too_long_for_the_count_is_refused() {
        // Two suffix characters: 1,296 names, not 2,000.
        let mut used = HashSet::new();
        let all: Result<Vec<String>, NameError> = (0..2_000)
            .map(|_| generate("abcdefghijklm", &mut used))
            .collect();
        assert_eq!(all, Err(NameError::PrefixTooLong("abcdefghijklm".into())));
    }

    #[test]
    fn taken_generated_names_are_drawn_again_and_given_ones_refused() {
        let origins = vec![None, Some("web-".to_owned())];
        let mut names = ["given".to_owned(), "web-aaaaaaaaaaa".to_owned()];
        let mut writes = 0;
        let taken = ["web-aaaaaaaaaaa".to_owned()];
        rename_taken(names.iter_mut(), &origins, &taken, &mut writes).unwrap();
        assert_eq!(names[0], "given");
        assert!(names[1].starts_with("web-") && names[1] != taken[0]);
        let taken = ["given".to_owned()];
        let e = rename_taken(names.iter_mut(), &origins, &taken, &mut writes);
        assert_eq!(e, Err(NameError::Taken("given".into())));
        // Generated names that keep colliding are given up after a few writes.
        let mut writes = WRITES - 1;
        let taken = [names[1].clone()];
        let e = rename_taken(names.iter_mut(), &origins, &taken, &mut writes);
        assert_eq!(e, Err(NameError::Taken(taken[0].clone())));
    }
}
