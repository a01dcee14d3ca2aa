//! fail2ban's tags: `<HOST>`, `<ADDR>`, `<IP4>`, `<IP6>`, `<DNS>`, `<CIDR>`,
//! `<SUBNET>`, `<SKIPLINES>`, `<F-ID/>`, `<F-PORT/>` and the capture tags
//! `<F-NAME>...</F-NAME>`, replaced by regex text (Python syntax) before the
//! pattern is translated.
//!
//! The replacements capture into the group names fail2ban uses (`ip4`, `ip6`,
//! `dns`, `cidr`, `fid`, `fport`, and the lower-cased tag name for
//! `<F-NAME>`; `F-ID` and `F-PORT` become `fid` and `fport`), so the matcher
//! reads results by those names.

/// An IPv4 address, optionally IPv4-mapped (`::ffff:1.2.3.4`): group `ip4`.
const IP4: &str = r"(?:::f{4,6}:)?(?P<ip4>[0-9]{1,3}(?:\.[0-9]{1,3}){3})";
/// An IPv6 address (forms with `::` included): group `ip6`. Every repeated
/// part ends in a colon, so a final lone `:` always follows another one.
const IP6: &str = r"(?P<ip6>(?:[0-9A-Fa-f]{1,4}::?|::){1,7}(?:[0-9A-Fa-f]{1,4}|:))";
/// A host name: group `dns`.
const DNS: &str = r"(?P<dns>[\w\-.^_]*\w)";
/// A prefix length: group `cidr`.
const CIDR: &str = r"(?P<cidr>[0-9]+)";

fn addr() -> String {
    format!(r"\[?(?:{IP4}|{IP6})\]?")
}

fn host() -> String {
    format!("(?:{}|{DNS})", addr())
}

fn subnet() -> String {
    format!(r"\[?(?:{IP4}|{IP6})(?:/{CIDR})?\]?")
}

/// The group name a `<F-NAME>` tag captures into.
fn group_name(tag: &str) -> String {
    let lower = tag.to_ascii_lowercase();
    match lower.as_str() {
        "id" => "fid".to_string(),
        "port" => "fport".to_string(),
        _ => lower,
    }
}

/// The tag name at `rest` (which starts with `<`): `(whole tag length, name)`
/// for text of the form `</?[\w-]+/?>`, else `None`.
fn tag_at(rest: &str) -> Option<(usize, &str)> {
    let body = rest.strip_prefix('<')?;
    let end = body.find('>')?;
    let inner = &body[..end];
    let core = inner.strip_prefix('/').unwrap_or(inner);
    let core = core.strip_suffix('/').unwrap_or(core);
    if core.is_empty()
        || !core
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    Some((end + 2, inner))
}

/// Replaces every tag in `regex` (Python syntax in, Python syntax out).
/// Unknown tags and closing tags that were never opened stay as they are.
pub fn expand(regex: &str) -> String {
    let mut out = String::with_capacity(regex.len() * 2);
    let mut open: Vec<String> = Vec::new();
    let mut skiplines = 0usize;
    let mut rest = regex;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some((len, tag)) = tag_at(rest) else {
            out.push('<');
            rest = &rest[1..];
            continue;
        };
        let replacement = match tag {
            "HOST" => Some(host()),
            "ADDR" | "F-ADDR/" => Some(addr()),
            "IP4" | "F-IP4/" => Some(IP4.to_string()),
            "IP6" | "F-IP6/" => Some(IP6.to_string()),
            "DNS" | "F-DNS/" => Some(DNS.to_string()),
            "CIDR" | "F-CIDR/" => Some(CIDR.to_string()),
            "SUBNET" | "F-SUBNET/" => Some(subnet()),
            "F-ID/" => Some(r"(?P<fid>\S+)".to_string()),
            "F-PORT/" => Some(r"(?P<fport>\w+)".to_string()),
            "SKIPLINES" => {
                let s = format!(r"\n(?P<skiplines{skiplines}>(?:(?:.*\n)*?))");
                skiplines += 1;
                Some(s)
            }
            _ => custom(tag, &mut open),
        };
        match replacement {
            Some(r) => out.push_str(&r),
            None => out.push_str(&rest[..len]),
        }
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

/// `<F-NAME>` opens group `name`; `</F-NAME>` closes it when it was opened.
fn custom(tag: &str, open: &mut Vec<String>) -> Option<String> {
    let (closing, name) = match tag.strip_prefix('/') {
        Some(n) => (true, n),
        None => (false, tag),
    };
    let name = name.strip_prefix("F-")?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return None;
    }
    if closing {
        open.iter().any(|n| n == name).then(|| ")".to_string())
    } else {
        open.push(name.to_string());
        Some(format!("(?P<{}>", group_name(name)))
    }
}

/// For a group named `alt_NAME` or `alt_NAME_<digits>`: the name whose value
/// it stands in for (`alt_user_1` -> `user`; `alt_user1` -> `user1`).
pub fn alt_target(group: &str) -> Option<String> {
    let rest = group.strip_prefix("alt_")?;
    if rest.is_empty() {
        return None;
    }
    let base = match rest.rfind('_') {
        Some(i)
            if i > 0 && rest[i + 1..].chars().all(|c| c.is_ascii_digit()) && i + 1 < rest.len() =>
        {
            &rest[..i]
        }
        _ => rest,
    };
    Some(group_name(base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::translate;

    fn caps(pattern: &str, hay: &str) -> Option<Vec<(String, String)>> {
        let tr = translate(&expand(pattern), false).unwrap();
        assert!(!tr.fancy);
        let re = regex::Regex::new(&tr.pattern).unwrap();
        let c = re.captures(hay)?;
        Some(
            re.capture_names()
                .flatten()
                .filter_map(|n| c.name(n).map(|m| (n.to_string(), m.as_str().to_string())))
                .collect(),
        )
    }

    fn get(v: &[(String, String)], k: &str) -> Option<String> {
        v.iter().find(|(n, _)| n == k).map(|(_, s)| s.clone())
    }

    #[test]
    fn host_forms() {
        let v = caps("^login from <HOST>$", "login from 192.0.2.7").unwrap();
        assert_eq!(get(&v, "ip4").as_deref(), Some("192.0.2.7"));
        let v = caps("^login from <HOST>$", "login from ::ffff:192.0.2.7").unwrap();
        assert_eq!(get(&v, "ip4").as_deref(), Some("192.0.2.7"));
        let v = caps("^login from <HOST>$", "login from [2001:db8::1]").unwrap();
        assert_eq!(get(&v, "ip6").as_deref(), Some("2001:db8::1"));
        let v = caps("^login from <HOST> x$", "login from 2001:db8:: x").unwrap();
        assert_eq!(get(&v, "ip6").as_deref(), Some("2001:db8::"));
        let v = caps("^login from <HOST>$", "login from ::1").unwrap();
        assert_eq!(get(&v, "ip6").as_deref(), Some("::1"));
        let v = caps("^login from <HOST>$", "login from mail.example.org").unwrap();
        assert_eq!(get(&v, "dns").as_deref(), Some("mail.example.org"));
        assert_eq!(get(&v, "ip4"), None);
    }

    #[test]
    fn address_only_tags() {
        assert!(caps("^from <ADDR>$", "from example.org").is_none());
        let v = caps("^from <ADDR>$", "from 10.0.0.1").unwrap();
        assert_eq!(get(&v, "ip4").as_deref(), Some("10.0.0.1"));
        let v = caps("^a <IP4> b <IP6>$", "a 10.0.0.1 b fe80::2").unwrap();
        assert_eq!(get(&v, "ip4").as_deref(), Some("10.0.0.1"));
        assert_eq!(get(&v, "ip6").as_deref(), Some("fe80::2"));
        let v = caps("^n=<DNS>$", "n=host-1.example").unwrap();
        assert_eq!(get(&v, "dns").as_deref(), Some("host-1.example"));
        let v = caps("^net <SUBNET>$", "net 192.0.2.0/24").unwrap();
        assert_eq!(get(&v, "ip4").as_deref(), Some("192.0.2.0"));
        assert_eq!(get(&v, "cidr").as_deref(), Some("24"));
        let v = caps("^net <ADDR>/<CIDR>$", "net 2001:db8::/32").unwrap();
        assert_eq!(get(&v, "ip6").as_deref(), Some("2001:db8::"));
        assert_eq!(get(&v, "cidr").as_deref(), Some("32"));
    }

    #[test]
    fn custom_groups() {
        let v = caps(
            "^user <F-USER>[^ ]+</F-USER> id <F-ID/> port <F-PORT/> sess <F-SESSION_ID>\\d+</F-SESSION_ID>",
            "user bob id abc-1 port 22 sess 77",
        )
        .unwrap();
        assert_eq!(get(&v, "user").as_deref(), Some("bob"));
        assert_eq!(get(&v, "fid").as_deref(), Some("abc-1"));
        assert_eq!(get(&v, "fport").as_deref(), Some("22"));
        assert_eq!(get(&v, "session_id").as_deref(), Some("77"));
        let v = caps("^<F-ID>\\w+</F-ID>", "conn42").unwrap();
        assert_eq!(get(&v, "fid").as_deref(), Some("conn42"));
        // An unopened closing tag and unknown tags stay literal text.
        assert_eq!(expand("a</F-USER><title>"), "a</F-USER><title>");
        assert_eq!(expand("<F-lower>"), "<F-lower>");
    }

    #[test]
    fn flag_groups() {
        let e = expand("<F-NOFAIL>x</F-NOFAIL><F-MLFID>y</F-MLFID><F-MLFFORGET>z</F-MLFFORGET><F-MLFGAINED>w</F-MLFGAINED><F-ALT_USER>u</F-ALT_USER><F-CONTENT>.+</F-CONTENT>");
        for g in [
            "nofail",
            "mlfid",
            "mlfforget",
            "mlfgained",
            "alt_user",
            "content",
        ] {
            assert!(e.contains(&format!("(?P<{g}>")), "{g} in {e}");
        }
    }

    #[test]
    fn skiplines() {
        let e = expand("^a<SKIPLINES>b<SKIPLINES>c$");
        let tr = translate(&e, true).unwrap();
        let re = regex::Regex::new(&tr.pattern).unwrap();
        let c = re.captures("a\nx\nb\ny\nz\nc\n").unwrap();
        assert_eq!(&c["skiplines0"], "x\n");
        assert_eq!(&c["skiplines1"], "y\nz\n");
    }

    #[test]
    fn alt_names() {
        assert_eq!(alt_target("alt_user").as_deref(), Some("user"));
        assert_eq!(alt_target("alt_user_1").as_deref(), Some("user"));
        assert_eq!(alt_target("alt_user1").as_deref(), Some("user1"));
        assert_eq!(alt_target("alt_id_2").as_deref(), Some("fid"));
        assert_eq!(alt_target("user"), None);
    }
}
