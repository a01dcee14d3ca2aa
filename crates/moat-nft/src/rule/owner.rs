//! `-m owner`: the user and group of the local socket that sent the packet.

use nftables::expr::MetaKey;
use nftables::stmt::Statement;

use super::build::{eq, meta, value_or_range};

/// `--uid-owner` / `--gid-owner`: `meta skuid 1000-2000` (`!=` negated).
/// nf_tables stops the rule when the packet has no owning socket, so the
/// negated form does not match such packets either (see
/// [`moat_model::Match::SocketUid`]).
pub(super) fn id(key: MetaKey, min: u32, max: u32, negate: bool) -> Vec<Statement<'static>> {
    vec![eq(meta(key), value_or_range(min, max), negate)]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{matches_json, v4, v6};
    use moat_model::Match;

    #[test]
    fn uid_and_gid() {
        let ms = [
            Match::SocketUid {
                min: 0,
                max: 0,
                negate: false,
            },
            Match::SocketGid {
                min: 1000,
                max: 2000,
                negate: true,
            },
        ];
        let want = json!([
            {"match": {"op": "==", "left": {"meta": {"key": "skuid"}}, "right": 0}},
            {"match": {"op": "!=", "left": {"meta": {"key": "skgid"}}, "right": {"range": [1000, 2000]}}},
        ]);
        assert_eq!(matches_json(&ms, v4()), want);
        assert_eq!(matches_json(&ms, v6()), want);
    }
}
