//! moat's own filters, written for moat in fail2ban's filter.d format and
//! embedded in the binary, so a jail file alone in a directory still runs.
//!
//! The files live in `crates/moat-fail2ban/filters/`. `moat-common` is not a
//! filter but the include the others name in `before = moat-common.conf`.
//! None of the regexes needs lookaround, backreferences or conditionals, so
//! all of them run on the linear-time engine.

/// Every built-in filter file: (file name without `.conf`, text).
pub const FILES: &[(&str, &str)] = &[
    ("apache-auth", include_str!("../filters/apache-auth.conf")),
    ("dovecot", include_str!("../filters/dovecot.conf")),
    ("moat-common", include_str!("../filters/moat-common.conf")),
    (
        "nginx-http-auth",
        include_str!("../filters/nginx-http-auth.conf"),
    ),
    (
        "nginx-limit-req",
        include_str!("../filters/nginx-limit-req.conf"),
    ),
    ("postfix", include_str!("../filters/postfix.conf")),
    ("proftpd", include_str!("../filters/proftpd.conf")),
    ("pure-ftpd", include_str!("../filters/pure-ftpd.conf")),
    ("recidive", include_str!("../filters/recidive.conf")),
    ("sshd", include_str!("../filters/sshd.conf")),
    ("vsftpd", include_str!("../filters/vsftpd.conf")),
];

/// The text of the built-in filter file `name` (without `.conf`), if moat has one.
pub fn text(name: &str) -> Option<&'static str> {
    FILES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    /// Each built-in filter with the options its documentation offers.
    const VARIANTS: &[(&str, &[(&str, &str)])] = &[
        ("sshd", &[]),
        ("sshd", &[("mode", "ddos")]),
        ("sshd", &[("mode", "extra")]),
        ("sshd", &[("mode", "aggressive")]),
        ("sshd", &[("publickey", "invalid")]),
        ("sshd", &[("publickey", "any")]),
        ("sshd", &[("publickey", "ignore")]),
        ("sshd", &[("logtype", "journal")]),
        ("sshd", &[("logtype", "rfc5424")]),
        ("postfix", &[]),
        ("postfix", &[("mode", "normal")]),
        ("postfix", &[("mode", "rbl")]),
        ("postfix", &[("mode", "auth")]),
        ("postfix", &[("mode", "errors")]),
        ("postfix", &[("mode", "ddos")]),
        ("postfix", &[("mode", "extra")]),
        ("postfix", &[("mode", "aggressive")]),
        ("dovecot", &[]),
        ("dovecot", &[("mode", "aggressive")]),
        ("nginx-http-auth", &[]),
        ("nginx-http-auth", &[("mode", "auth")]),
        ("nginx-http-auth", &[("mode", "fallback")]),
        ("nginx-http-auth", &[("mode", "aggressive")]),
        ("nginx-limit-req", &[]),
        ("apache-auth", &[]),
        ("apache-auth", &[("mode", "aggressive")]),
        ("vsftpd", &[]),
        ("proftpd", &[]),
        ("pure-ftpd", &[]),
        ("recidive", &[]),
    ];

    fn load(name: &str, opts: &[(&str, &str)]) -> crate::FilterDef {
        let opts: BTreeMap<String, String> = opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::load_filter(name, &opts, &[])
            .unwrap_or_else(|e| panic!("built-in {name} {opts:?}: {e}"))
    }

    #[test]
    fn every_filter_is_tested_and_loads() {
        for (name, _) in super::FILES {
            if *name != "moat-common" {
                assert!(
                    VARIANTS.iter().any(|(n, _)| n == name),
                    "{name} has no variant here"
                );
            }
        }
        for (name, opts) in VARIANTS {
            let def = load(name, opts);
            assert!(!def.failregex.is_empty(), "{name} {opts:?}");
            for r in def
                .failregex
                .iter()
                .chain(&def.ignoreregex)
                .chain(&def.prefregex)
            {
                // An unresolved `<mode>`-style tag left in a regex means a missing variant.
                assert!(
                    !r.contains("<_") && !r.contains("<moat_"),
                    "{name} {opts:?}: {r}"
                );
            }
        }
    }

    #[test]
    fn no_regex_needs_a_backtracking_engine() {
        let banned = ["(?=", "(?!", "(?<=", "(?<!", "(?P=", "(?("];
        for (name, opts) in VARIANTS {
            let def = load(name, opts);
            for r in def
                .failregex
                .iter()
                .chain(&def.ignoreregex)
                .chain(&def.prefregex)
            {
                for b in banned {
                    assert!(!r.contains(b), "{name} {opts:?} uses {b}: {r}");
                }
                let backref = r
                    .as_bytes()
                    .windows(2)
                    .any(|w| w[0] == b'\\' && w[1].is_ascii_digit() && w[1] != b'0');
                assert!(!backref, "{name} {opts:?} uses a backreference: {r}");
            }
        }
    }

    #[test]
    fn modes_select_their_regexes() {
        let n = |name: &str, opts: &[(&str, &str)]| load(name, opts).failregex.len();
        assert!(n("sshd", &[("mode", "aggressive")]) > n("sshd", &[("mode", "ddos")]));
        assert!(n("sshd", &[("mode", "ddos")]) > n("sshd", &[]));
        assert_eq!(n("postfix", &[("mode", "errors")]), 1);
        assert_eq!(n("postfix", &[]), n("postfix", &[("mode", "normal")]));
        assert!(n("dovecot", &[("mode", "aggressive")]) > n("dovecot", &[]));
        let journal = load("sshd", &[("logtype", "journal")]);
        assert_eq!(journal.datepattern.as_deref(), Some("{^LN-BEG}"));
        let rfc = load("sshd", &[("logtype", "rfc5424")]);
        assert_eq!(rfc.datepattern.as_deref(), Some(r"^<\d+>\d+\s+{DATE}"));
    }
}
