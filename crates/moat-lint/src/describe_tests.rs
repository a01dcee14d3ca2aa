//! The iptables text of rules built by the iptables front-end.

use crate::testkit::rule;
use moat_model::describe::{policy_text, rule_text, verdict};
use moat_model::Policy;

#[test]
fn kept_source_gets_its_chain() {
    let r = rule("-p tcp --dport 22 -j ACCEPT");
    assert_eq!(
        rule_text("INPUT", &r),
        "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"
    );
}

#[test]
fn built_text_reads_like_iptables() {
    let mut r = rule("-s 10.0.0.0/8 -p tcp --dport 22:23 -m conntrack --ctstate NEW,ESTABLISHED -j DNAT --to-destination 10.1.1.1:8080");
    r.source = None;
    assert_eq!(
        rule_text("PREROUTING", &r),
        "-A PREROUTING -p tcp -s 10.0.0.0/8 --dport 22:23 -m conntrack --ctstate NEW,ESTABLISHED -j DNAT --to-destination 10.1.1.1:8080"
    );
    assert_eq!(verdict(&r.action), "DNAT to 10.1.1.1:8080");
    assert_eq!(policy_text("INPUT", Policy::Drop), "-P INPUT DROP");
}
