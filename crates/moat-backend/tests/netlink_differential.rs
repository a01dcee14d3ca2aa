//! The netlink driver against `nft`: the same change applied by each driver
//! in its own fresh network namespace must leave the kernel holding the
//! same thing — the same `nft -a list ruleset` text (handles included) and
//! the same raw netlink attributes for every rule — and both readers must
//! read the same tables back. Root only; skipped otherwise (failed with CI=true).

mod netlink_common;

use moat_backend::{Backend, NetlinkDriver};
use moat_model::{Action, Chain, Counters, Family, Policy, Rule, Stage, Table};
use moat_nft::{plan_delete, plan_replace, plan_update, ChangeSet, Op, Position};
use netlink_common::{bench_table, filter_table, other_tables, pair, proto, rule, Pair};

const FAMILIES: [Family; 2] = [Family::Ipv4, Family::Ipv6];

fn load_corpus(lab: &Pair) {
    for family in FAMILIES {
        let mut tables = vec![filter_table(family)];
        tables.extend(other_tables(family));
        for table in &tables {
            let changes = plan_replace(table).unwrap();
            if let Err(e) = NetlinkDriver.supports(&changes) {
                panic!("the corpus must be native: {e}");
            }
            lab.apply(&changes);
        }
    }
}

#[test]
fn every_construct_lands_as_nft_writes_it() {
    let Some(lab) = pair("diff") else { return };
    load_corpus(&lab);
    lab.assert_same();
    for family in FAMILIES {
        for stage in Stage::ALL {
            let table = lab.read(family, stage).expect("table");
            assert!(!table.chains.is_empty());
        }
    }
    let filter = lab.read(Family::Ipv4, Stage::Filter).unwrap();
    let input = filter.chain("INPUT").unwrap();
    assert_eq!(input.base.map(|(_, p)| p), Some(Policy::Drop));
    assert_eq!(
        input.policy_counter.map(|(_, c)| c),
        Some(Counters {
            packets: 3,
            bytes: 180
        })
    );
    assert!(input.rules.iter().any(|r| r.counters
        == Counters {
            packets: 5,
            bytes: 500
        }));
    assert_eq!(
        filter
            .chains
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["INPUT", "FORWARD", "OUTPUT", "USER", "EMPTY"]
    );

    let layout = lab
        .netlink
        .run(|| NetlinkDriver.read_chains_without_rules(Family::Ipv4, Stage::Filter))
        .unwrap()
        .unwrap();
    let mut expected = filter.clone();
    expected.chains.iter_mut().for_each(|c| c.rules.clear());
    assert_eq!(layout, Some(expected));
    let absent = lab
        .netlink
        .run(|| NetlinkDriver.read_chains_without_rules(Family::Ipv6, Stage::Filter))
        .unwrap()
        .unwrap();
    assert!(absent.is_some());
    let none = lab
        .netlink
        .run(|| NetlinkDriver.read_chains_without_rules(Family::Ipv4, Stage::Nat))
        .unwrap()
        .unwrap();
    assert!(none.is_some());
}

/// Applies the plan that takes each namespace from what it holds to `new`,
/// and checks that both end up the same.
fn update(lab: &Pair, new: &Table) -> ChangeSet {
    let old = lab.read(new.family, new.stage);
    let changes = plan_update(old.as_ref(), new).unwrap();
    lab.apply(&changes);
    lab.assert_same();
    changes
}

fn input(model: &mut Table) -> &mut Vec<Rule> {
    &mut model.chain_mut("INPUT").unwrap().rules
}

fn has_op(changes: &ChangeSet, f: impl Fn(&Op) -> bool) -> bool {
    changes.tables.iter().flat_map(|t| &t.ops).any(f)
}

#[test]
fn inserts_replacements_deletions_and_policies_match_nft() {
    let Some(lab) = pair("edit") else { return };
    let mut model = filter_table(Family::Ipv4);
    lab.apply(&plan_replace(&model).unwrap());

    input(&mut model).insert(0, rule(vec![proto(6)], Action::Accept, "new first"));
    let changes = update(&lab, &model);
    assert!(has_op(&changes, |op| matches!(
        op,
        Op::AddRule {
            position: Position::Before(_),
            ..
        }
    )));

    input(&mut model).insert(5, rule(vec![proto(17)], Action::Drop, "new fifth"));
    input(&mut model).insert(6, rule(vec![proto(1)], Action::Drop, "new sixth"));
    update(&lab, &model);

    input(&mut model)[10] = rule(vec![proto(132)], Action::Return, "replaced");
    let changes = update(&lab, &model);
    assert!(has_op(&changes, |op| matches!(op, Op::ReplaceRule { .. })));

    input(&mut model).remove(3);
    let last = input(&mut model).len() - 1;
    input(&mut model).remove(last);
    let changes = update(&lab, &model);
    assert!(has_op(&changes, |op| matches!(op, Op::DeleteRule { .. })));

    let chain = model.chain_mut("INPUT").unwrap();
    chain.base = chain.base.map(|(hook, _)| (hook, Policy::Accept));
    chain.policy_counters = Counters {
        packets: 1,
        bytes: 2,
    };
    let changes = update(&lab, &model);
    assert!(has_op(&changes, |op| matches!(op, Op::SetPolicy { .. })));
    assert!(has_op(&changes, |op| matches!(
        op,
        Op::SetPolicyCounters { .. }
    )));

    model.chains.retain(|c| c.name != "EMPTY");
    model.chains.push(Chain {
        name: "LATER".into(),
        base: None,
        policy_counters: Counters::default(),
        rules: vec![rule(vec![], Action::Accept, "later")],
    });
    model.chain_mut("OUTPUT").unwrap().rules.push(rule(
        vec![],
        Action::Jump("LATER".into()),
        "-j LATER",
    ));
    let changes = update(&lab, &model);
    assert!(has_op(&changes, |op| matches!(op, Op::DeleteChain { .. })));

    model.chain_mut("FORWARD").unwrap().rules.clear();
    model.chains.retain(|c| c.name != "USER");
    input(&mut model).retain(|r| r.chain_target().is_none());
    let changes = update(&lab, &model);
    assert!(has_op(&changes, |op| matches!(op, Op::FlushChain { .. })));

    lab.apply(&plan_replace(&bench_table(Family::Ipv4, 50)).unwrap());
    lab.assert_same();
    lab.apply(&plan_delete(&model));
    lab.assert_same();
    assert!(lab.read(Family::Ipv4, Stage::Filter).is_none());
}

#[test]
fn deleting_an_absent_table_succeeds() {
    let Some(lab) = pair("absent") else { return };
    let table = Table::new(Family::Ipv6, Stage::Raw);
    lab.apply(&plan_delete(&table));
    lab.assert_same();
    assert_eq!(
        lab.netlink
            .run(|| NetlinkDriver.read(Family::Ipv6, Stage::Raw))
            .unwrap()
            .unwrap(),
        None
    );
}

fn listing(lab: &Pair) -> String {
    lab.netlink
        .exec_ok(&["nft", "-a", "list", "ruleset"])
        .unwrap()
}

#[test]
fn a_refused_batch_changes_nothing_and_names_the_refused_op() {
    let Some(lab) = pair("atomic") else { return };
    let model = filter_table(Family::Ipv4);
    lab.apply(&plan_replace(&model).unwrap());
    let before = listing(&lab);

    // Valid changes around one the kernel refuses: a jump to a missing chain.
    let mut next = model.clone();
    next.chains.push(Chain {
        name: "FRESH".into(),
        base: None,
        policy_counters: Counters::default(),
        rules: vec![rule(vec![], Action::Accept, "fresh")],
    });
    let input = &mut next.chain_mut("INPUT").unwrap().rules;
    input.insert(0, rule(vec![], Action::Drop, "valid"));
    input.push(rule(vec![], Action::Jump("MISSING".into()), "-j MISSING"));
    let old = lab.read(Family::Ipv4, Stage::Filter);
    let changes = plan_update(old.as_ref(), &next).unwrap();
    let err = lab
        .netlink
        .run(|| NetlinkDriver.apply(&changes))
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("chain INPUT, rule"), "{err}");
    assert!(err.contains("(-j MISSING): add rule"), "{err}");
    assert!(err.contains("No such file or directory"), "{err}");
    assert_eq!(listing(&lab), before, "a refused batch changed the kernel");

    // A stale handle.
    let bogus = ChangeSet {
        tables: vec![moat_nft::TableChanges {
            family: Family::Ipv4,
            stage: Stage::Filter,
            ops: vec![
                Op::AddChain { name: "X".into() },
                Op::DeleteRule {
                    chain: "INPUT".into(),
                    handle: 999_999,
                },
            ],
        }],
    };
    let err = lab
        .netlink
        .run(|| NetlinkDriver.apply(&bogus))
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("delete rule handle 999999"), "{err}");
    assert_eq!(listing(&lab), before);

    // A check applies nothing, and catches what apply would refuse.
    let fine = plan_update(old.as_ref(), &bench_table(Family::Ipv4, 3)).unwrap();
    lab.netlink
        .run(|| NetlinkDriver.check(&fine))
        .unwrap()
        .unwrap();
    assert!(lab
        .netlink
        .run(|| NetlinkDriver.check(&changes))
        .unwrap()
        .is_err());
    assert_eq!(listing(&lab), before);
}

#[test]
fn unsupported_rules_go_through_nft_in_one_transaction() {
    let Some(lab) = pair("hybrid") else { return };
    let mut model = filter_table(Family::Ipv4);
    let multiport = Rule {
        matches: vec![
            proto(6),
            moat_model::Match::AnyPort {
                proto: 6,
                ports: netlink_common::port(80, 80),
                negate: false,
            },
        ],
        ..rule(
            vec![],
            Action::Accept,
            "-p tcp -m multiport --ports 80 -j ACCEPT",
        )
    };
    model.chain_mut("INPUT").unwrap().rules.push(multiport);
    let changes = plan_replace(&model).unwrap();
    let err = NetlinkDriver.supports(&changes).unwrap_err();
    assert!(
        matches!(err, moat_backend::driver::DriverError::Unsupported(_)),
        "{err}"
    );
    // The netlink driver alone sends nothing.
    assert!(lab
        .netlink
        .run(|| NetlinkDriver.apply(&changes))
        .unwrap()
        .is_err());
    assert!(lab
        .netlink
        .run(|| NetlinkDriver.read(Family::Ipv4, Stage::Filter))
        .unwrap()
        .unwrap()
        .is_none());
    // The hybrid driver hands it to nft.
    lab.netlink
        .run(|| moat_backend::Hybrid::default().apply(&changes))
        .unwrap()
        .unwrap();
    lab.nft
        .run(|| moat_backend::NftCli::default().apply(&changes))
        .unwrap()
        .unwrap();
    lab.assert_same();
    lab.read(Family::Ipv4, Stage::Filter).unwrap();
}

#[test]
fn a_nat_restore_and_its_edits_go_through_netlink_as_nft_writes_them() {
    let Some(lab) = pair("natrestore") else {
        return;
    };
    for family in FAMILIES {
        let mut table = netlink_common::port_forward_table(family, 3000);
        let changes = plan_replace(&table).unwrap();
        if let Err(e) = NetlinkDriver.supports(&changes) {
            panic!("a DNAT restore must be native: {e}");
        }
        lab.apply(&changes);
        lab.assert_same();

        let prerouting = &mut table.chain_mut("PREROUTING").unwrap().rules;
        prerouting[1500] = rule(
            vec![proto(17)],
            Action::Redirect {
                ports: Some(moat_model::PortRange {
                    first: 53,
                    last: 53,
                }),
                random: false,
            },
            "-p udp -j REDIRECT --to-ports 53",
        );
        prerouting.insert(
            10,
            rule(
                vec![netlink_common::nth(4, 3, false)],
                Action::Return,
                "-m statistic --mode nth --every 4 --packet 3 -j RETURN",
            ),
        );
        table.chain_mut("POSTROUTING").unwrap().rules.push(rule(
            vec![],
            Action::Masquerade {
                ports: None,
                random: true,
            },
            "-j MASQUERADE --random",
        ));
        let changes = update(&lab, &table);
        assert!(NetlinkDriver.supports(&changes).is_ok());
        assert!(has_op(&changes, |op| matches!(
            op,
            Op::AddRule {
                position: Position::Before(_),
                ..
            }
        )));
        let read = lab.read(family, Stage::Nat).unwrap();
        assert_eq!(read.chain("PREROUTING").unwrap().rules.len(), 3001);
    }
}

#[test]
fn a_large_change_is_one_batch() {
    let Some(lab) = pair("large") else { return };
    let table = bench_table(Family::Ipv6, 20_000);
    lab.apply(&plan_replace(&table).unwrap());
    lab.assert_same();
    let read = lab.read(Family::Ipv6, Stage::Filter).unwrap();
    assert_eq!(read.chain("INPUT").unwrap().rules.len(), 20_000);
}
