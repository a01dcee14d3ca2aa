//! Which rule logged a packet: moat's LOG rules by the id in their tag,
//! the user's own NFLOG rules by group and prefix.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::record::RuleRef;

/// A rule that sends packets to the packet log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingRule {
    /// Where the rule is and what it says.
    pub rule: RuleRef,
    /// For an NFLOG rule: its group and prefix.
    pub nflog: Option<(u16, String)>,
}

/// Where the logging rules come from (the daemon reads them from the kernel).
pub trait RuleSource: Send + Sync {
    /// The ruleset's generation: it changes with every change of the ruleset.
    fn generation(&self) -> Option<u32>;
    /// The rules of the ruleset that log.
    fn rules(&self) -> Vec<LoggingRule>;
}

/// A shared [`RuleSource`].
pub type ReadRules = Arc<dyn RuleSource>;

/// Without a generation to compare, the shortest time between two
/// readings of the ruleset for an unknown rule.
const REREAD_AFTER: Duration = Duration::from_secs(2);

/// The logging rules by id and by (group, prefix), read again when a
/// packet names a rule not known and the ruleset changed since.
pub struct RuleIndex {
    read: ReadRules,
    by_id: HashMap<String, RuleRef>,
    by_group: HashMap<(u16, String), RuleRef>,
    read_at: Option<(Instant, Option<u32>)>,
}

impl RuleIndex {
    /// An index that reads the rules from `read` when first asked.
    pub fn new(read: ReadRules) -> Self {
        RuleIndex {
            read,
            by_id: HashMap::new(),
            by_group: HashMap::new(),
            read_at: None,
        }
    }

    /// The groups of the user's NFLOG rules (read now).
    pub fn nflog_groups(&mut self) -> Vec<u16> {
        self.reread();
        let mut groups: Vec<u16> = self.by_group.keys().map(|(g, _)| *g).collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }

    fn reread(&mut self) {
        let generation = self.read.generation();
        self.by_id.clear();
        self.by_group.clear();
        for r in self.read.rules() {
            if let Some((group, prefix)) = r.nflog.clone() {
                self.by_group
                    .entry((group, prefix))
                    .or_insert(r.rule.clone());
            }
            self.by_id.entry(r.rule.id.clone()).or_insert(r.rule);
        }
        self.read_at = Some((Instant::now(), generation));
    }

    fn may_reread(&mut self) {
        let due = match self.read_at {
            None => true,
            Some((_, Some(seen))) => self.read.generation() != Some(seen),
            Some((at, None)) => at.elapsed() >= REREAD_AFTER,
        };
        if due {
            self.reread();
        }
    }

    /// The rule with tag id `id`.
    pub fn by_id(&mut self, id: &str) -> Option<RuleRef> {
        if let Some(r) = self.by_id.get(id) {
            return Some(r.clone());
        }
        self.may_reread();
        self.by_id.get(id).cloned()
    }

    /// The NFLOG rule of `group` with `prefix`.
    pub fn by_group(&mut self, group: u16, prefix: &str) -> Option<RuleRef> {
        let key = (group, prefix.to_string());
        if let Some(r) = self.by_group.get(&key) {
            return Some(r.clone());
        }
        self.may_reread();
        self.by_group.get(&key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

    fn rule(id: &str, nflog: Option<(u16, &str)>) -> LoggingRule {
        LoggingRule {
            rule: RuleRef {
                family: "ipv4".into(),
                table: "filter".into(),
                chain: "INPUT".into(),
                number: 1,
                text: format!("-A INPUT {id}"),
                id: id.into(),
            },
            nflog: nflog.map(|(g, p)| (g, p.to_string())),
        }
    }

    /// Rules that change when the generation does.
    struct Fake {
        generation: AtomicU32,
        reads: AtomicUsize,
    }

    impl RuleSource for Fake {
        fn generation(&self) -> Option<u32> {
            Some(self.generation.load(Ordering::SeqCst))
        }
        fn rules(&self) -> Vec<LoggingRule> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let mut rules = vec![rule("0000000a", None), rule("0000000b", Some((5, "mine")))];
            if self.generation.load(Ordering::SeqCst) > 1 {
                rules.push(rule("0000000c", None));
            }
            rules
        }
    }

    #[test]
    fn unknown_ids_read_the_rules_again_only_when_the_ruleset_changed() {
        let fake = Arc::new(Fake {
            generation: AtomicU32::new(1),
            reads: AtomicUsize::new(0),
        });
        let mut index = RuleIndex::new(fake.clone());
        assert_eq!(index.by_id("0000000a").unwrap().id, "0000000a");
        assert_eq!(index.by_group(5, "mine").unwrap().id, "0000000b");
        assert!(index.by_id("0000000c").is_none());
        assert!(index.by_group(6, "mine").is_none());
        assert_eq!(
            fake.reads.load(Ordering::SeqCst),
            1,
            "the ruleset did not change"
        );
        fake.generation.store(2, Ordering::SeqCst);
        assert_eq!(index.by_id("0000000c").unwrap().id, "0000000c");
        assert_eq!(fake.reads.load(Ordering::SeqCst), 2);
        assert_eq!(index.nflog_groups(), vec![5]);
    }
}
