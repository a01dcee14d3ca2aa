//! iptables' lock options, `-w [SECONDS]` and the deprecated `-W USECONDS`,
//! checked as iptables 1.8.9 checks them. nf_tables needs no xtables lock;
//! `-w` says how long a command may wait for moat's own lock.

use crate::c_number::leading_number;
use crate::command::CommandError;

/// How long a command may wait for another to finish (`-w`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wait {
    /// No `-w`.
    #[default]
    Unsaid,
    /// `-w` without seconds: as long as it takes.
    Forever,
    /// `-w SECONDS`.
    Seconds(u64),
}

/// The lock options seen on one command line.
#[derive(Debug, Default)]
pub(crate) struct LockOptions {
    wait: Wait,
    interval: bool,
}

/// Which lock option a word is, and its value when written in the same word.
fn split(word: &str) -> Option<(bool, Option<&str>)> {
    let (wait, value) = match word {
        "-w" | "--wait" => (true, None),
        "-W" | "--wait-interval" => (false, None),
        _ => {
            if let Some(v) = word.strip_prefix("--wait=") {
                (true, Some(v))
            } else if let Some(v) = word.strip_prefix("--wait-interval=") {
                (false, Some(v))
            } else if let Some(v) = word.strip_prefix("-w").filter(|v| !v.starts_with('-')) {
                (true, Some(v))
            } else if let Some(v) = word.strip_prefix("-W").filter(|v| !v.starts_with('-')) {
                (false, Some(v))
            } else {
                return None;
            }
        }
    };
    Some((wait, value))
}

/// `-w` or `-W` when `word` is that lock option (in any of its forms).
pub(crate) fn option_letter(word: &str) -> Option<&'static str> {
    split(word).map(|(wait, _)| if wait { "-w" } else { "-W" })
}

impl LockOptions {
    /// Reads `word` when it is a lock option, taking `next` as its value
    /// where iptables would (a word that does not start with `-`). Returns
    /// how many words after `word` it used, or None when `word` is none.
    pub(crate) fn take(
        &mut self,
        word: &str,
        next: Option<&str>,
    ) -> Option<Result<usize, CommandError>> {
        let (wait, attached) = split(word)?;
        let (value, used) = match attached {
            Some(v) => (Some(v), 0),
            None => match next.filter(|n| !n.starts_with('-')) {
                Some(n) => (Some(n), 1),
                None => (None, 0),
            },
        };
        Some(
            if wait {
                self.wait(value)
            } else {
                self.interval(value)
            }
            .map(|()| used),
        )
    }

    fn wait(&mut self, value: Option<&str>) -> Result<(), CommandError> {
        self.wait = match value {
            None => Wait::Forever,
            Some(v) => match leading_number(v) {
                Some(seconds) => Wait::Seconds(seconds),
                None => return Err(CommandError::new("wait seconds not numeric")),
            },
        };
        Ok(())
    }

    /// What `-w` said.
    pub(crate) fn wait_said(&self) -> Wait {
        self.wait
    }

    fn interval(&mut self, value: Option<&str>) -> Result<(), CommandError> {
        let value = value.ok_or_else(|| CommandError::new("wait interval value required"))?;
        let usec =
            leading_number(value).ok_or_else(|| CommandError::new("wait interval not numeric"))?;
        if usec > 999_999 {
            return Err(CommandError::new(format!(
                "too long usec wait {usec} > 999999 usec"
            )));
        }
        self.interval = true;
        Ok(())
    }

    /// Fails as iptables does when `-W` came without `-w`; else the warning
    /// iptables prints for `-W` (in its words), if it was given.
    pub(crate) fn finish(&self) -> Result<Option<String>, CommandError> {
        match (self.interval, self.wait != Wait::Unsaid) {
            (false, _) => Ok(None),
            (true, false) => Err(CommandError::new(
                "--wait-interval only makes sense with --wait",
            )),
            (true, true) => Ok(Some("Ignoring deprecated --wait-interval option.".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(words: &[&str]) -> Result<Option<String>, String> {
        let mut lock = LockOptions::default();
        let mut i = 0;
        while i < words.len() {
            let used = lock
                .take(words[i], words.get(i + 1).copied())
                .expect("a lock option")
                .map_err(|e| e.to_string())?;
            i += 1 + used;
        }
        lock.finish().map_err(|e| e.to_string())
    }

    #[test]
    fn values_as_iptables_reads_them() {
        assert_eq!(run(&["-w"]), Ok(None));
        assert_eq!(run(&["-w", "1.5"]), Ok(None));
        assert_eq!(run(&["-w5"]), Ok(None));
        assert_eq!(run(&["--wait=5"]), Ok(None));
        assert!(run(&["-w", "-W", "999999"]).unwrap().is_some());
        assert!(run(&["-W1000", "--wait"]).unwrap().is_some());
        assert!(run(&["--wait-interval", "5x", "-w"]).unwrap().is_some());
        let err = |w: &[&str]| run(w).unwrap_err();
        assert_eq!(err(&["-w", "INPUT"]), "wait seconds not numeric");
        assert_eq!(err(&["-W"]), "wait interval value required");
        assert_eq!(err(&["-W", "abc", "-w"]), "wait interval not numeric");
        assert_eq!(err(&["-W=5", "-w"]), "wait interval not numeric");
        assert_eq!(
            err(&["-w", "-W", "1000000"]),
            "too long usec wait 1000000 > 999999 usec"
        );
        assert_eq!(
            err(&["-W", "1000"]),
            "--wait-interval only makes sense with --wait"
        );
    }

    #[test]
    fn other_words_are_not_lock_options() {
        let mut lock = LockOptions::default();
        for word in ["-v", "--wait-for", "-x", "--waiting"] {
            assert!(lock.take(word, None).is_none(), "{word}");
        }
    }
}
