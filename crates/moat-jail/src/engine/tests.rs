use super::*;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
}

fn rules() -> JailRules {
    JailRules {
        name: "sshd".into(),
        maxretry: 3,
        findtime: Duration::from_secs(600),
        bantime: BanTime::For(Duration::from_secs(1000)),
        increment: None,
        v6_prefix: None,
    }
}

fn fail(addr: &str, secs: u64) -> Failure {
    Failure {
        addr: addr.parse().unwrap(),
        time: at(secs),
        origin: Origin::Log {
            source: "/var/log/secure".into(),
            line: secs,
        },
    }
}

fn jail(rules: JailRules, ignore: &[&str]) -> Jail {
    let mut list = IgnoreList::new(ignore, false).unwrap();
    list.refresh();
    Jail::new(rules, list)
}

#[test]
fn bans_at_maxretry_inside_findtime() {
    let mut j = jail(rules(), &["192.168.1.172"]);
    let now = at(10);
    assert_eq!(
        j.failure(&fail("203.0.113.9", 1), now, |_| 0, 0.0),
        Verdict::Counted { failures: 1 }
    );
    assert_eq!(
        j.failure(&fail("198.51.100.1", 2), now, |_| 0, 0.0),
        Verdict::Counted { failures: 1 }
    );
    j.failure(&fail("203.0.113.9", 3), now, |_| 0, 0.0);
    let Verdict::Ban(order) = j.failure(&fail("203.0.113.9", 4), now, |_| 0, 0.0) else {
        panic!("third failure must ban");
    };
    assert_eq!(order.target, "203.0.113.9/32".parse::<IpNet>().unwrap());
    assert_eq!(order.duration, Some(Duration::from_secs(1000)));
    assert_eq!(order.count, 1);
    assert_eq!(
        j.failure(&fail("203.0.113.9", 5), now, |_| 0, 0.0),
        Verdict::AlreadyBanned
    );
}

#[test]
fn failures_apart_by_more_than_findtime_never_ban() {
    let mut j = jail(rules(), &[]);
    for i in 0..10 {
        let t = i * 400;
        let v = j.failure(&fail("203.0.113.9", t), at(t), |_| 0, 0.0);
        assert!(
            matches!(v, Verdict::Counted { failures } if failures <= 2),
            "{v:?}"
        );
    }
}

#[test]
fn old_lines_are_stale() {
    let mut j = jail(rules(), &[]);
    assert_eq!(
        j.failure(&fail("203.0.113.9", 0), at(601), |_| 0, 0.0),
        Verdict::Stale
    );
}

#[test]
fn ignoreip_is_never_banned() {
    let mut j = jail(rules(), &["192.168.1.0/24"]);
    for t in 0..5 {
        assert!(matches!(
            j.failure(&fail("192.168.1.172", t), at(10), |_| 0, 0.0),
            Verdict::Ignored(IgnoreReason::Listed(_))
        ));
    }
}

#[test]
fn v6_prefix_counts_the_whole_prefix() {
    let mut j = jail(
        JailRules {
            v6_prefix: Some(64),
            ..rules()
        },
        &[],
    );
    j.failure(&fail("2001:db8::1", 1), at(5), |_| 0, 0.0);
    j.failure(&fail("2001:db8::2", 2), at(5), |_| 0, 0.0);
    let Verdict::Ban(order) = j.failure(&fail("2001:db8::ffff", 3), at(5), |_| 0, 0.0) else {
        panic!("three addresses of one /64 must ban it");
    };
    assert_eq!(order.target, "2001:db8::/64".parse::<IpNet>().unwrap());
    assert_eq!(
        j.failure(&fail("203.0.113.1", 3), at(5), |_| 0, 0.0),
        Verdict::Counted { failures: 1 }
    );
}

#[test]
fn repeat_offenders_are_banned_sooner_and_longer() {
    let mut j = jail(
        JailRules {
            increment: Some(Increment::default()),
            ..rules()
        },
        &[],
    );
    assert_eq!(
        j.failure(&fail("198.51.100.1", 1), at(5), |_| 1, 0.0),
        Verdict::Counted { failures: 2 }
    );
    let Verdict::Ban(order) = j.failure(&fail("203.0.113.9", 2), at(5), |_| 2, 0.0) else {
        panic!("a twice-banned address weighs 3 per failure: banned at once");
    };
    assert_eq!(order.count, 3);
    assert_eq!(order.duration, Some(Duration::from_secs(4000)));
}

#[test]
fn manual_orders_respect_the_ignore_list_and_unban_forgets() {
    let mut j = jail(rules(), &["10.0.0.0/8"]);
    let refused = j.order(
        "10.1.2.3/32".parse().unwrap(),
        None,
        0,
        Origin::Manual,
        at(0),
    );
    assert!(refused.is_err());
    let order = j
        .order(
            "203.0.113.9/32".parse().unwrap(),
            Some(BanTime::Permanent),
            0,
            Origin::Manual,
            at(0),
        )
        .unwrap();
    assert_eq!(order.duration, None);
    assert_eq!(
        j.failure(&fail("203.0.113.9", 1), at(2), |_| 0, 0.0),
        Verdict::AlreadyBanned
    );
    j.forget(order.target);
    assert_eq!(
        j.failure(&fail("203.0.113.9", 1), at(2), |_| 0, 0.0),
        Verdict::Counted { failures: 1 }
    );
}

#[test]
fn bans_end_by_themselves() {
    let mut j = jail(rules(), &[]);
    for t in 0..3 {
        j.failure(&fail("203.0.113.9", t), at(3), |_| 0, 0.0);
    }
    assert_eq!(
        j.failure(&fail("203.0.113.9", 1500), at(1500), |_| 0, 0.0),
        Verdict::Counted { failures: 1 }
    );
}

#[test]
fn a_ban_by_hand_names_the_prefix_the_jail_bans() {
    let mut j = jail(
        JailRules {
            v6_prefix: Some(64),
            ..rules()
        },
        &[],
    );
    let host: IpNet = "2001:db8:ee::5/128".parse().unwrap();
    let order = j
        .order(host, None, 0, Origin::Manual, at(5))
        .expect("not ignored");
    assert_eq!(order.target, "2001:db8:ee::/64".parse::<IpNet>().unwrap());
    assert_eq!(
        j.failure(&fail("2001:db8:ee::77", 6), at(6), |_| 0, 0.0),
        Verdict::AlreadyBanned
    );
}

/// A target the kernel holds banned until `until`, banned twice before.
struct HeldUntil(SystemTime);

impl BanLookup for HeldUntil {
    fn earlier_bans(&mut self, _: IpNet) -> u32 {
        1
    }

    fn current_ban(&mut self, _: IpNet, _: SystemTime) -> Option<Option<SystemTime>> {
        Some(Some(self.0))
    }
}

#[test]
fn failures_of_a_target_banned_elsewhere_order_no_ban() {
    let mut j = jail(rules(), &[]);
    let until = at(100);
    for t in 1..=5 {
        assert_eq!(
            j.failure(&fail("203.0.113.9", t), at(10), HeldUntil(until), 0.0),
            Verdict::AlreadyBanned,
            "lines read again after a crash: the kernel holds the ban already"
        );
    }
    assert_eq!(j.watched(), 0);
    // Once that ban ended, failures count afresh.
    for t in 101..=102 {
        assert!(matches!(
            j.failure(&fail("203.0.113.9", t), at(t), |_| 0, 0.0),
            Verdict::Counted { .. }
        ));
    }
}
