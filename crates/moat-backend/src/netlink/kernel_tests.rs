//! The driver against the real kernel, each test in a private network
//! namespace of its own thread (`unshare(CLONE_NEWNET)`), which vanishes
//! with the thread. Skipped unless root; with `CI=true` a skip is a failure.

use moat_model::Hook;

use super::consts::{NFTA_RULE_TABLE, NFT_MSG_GETRULE};

use super::*;

fn in_private_netns<T: Send>(f: impl FnOnce() -> T + Send) -> Option<T> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!ci, "netlink kernel tests need root, and CI=true");
        eprintln!("SKIPPED: netlink kernel tests need root");
        return None;
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: moves only this thread into a new network namespace.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .ok()
    })
}

const T: &str = "moat_test";

fn base(tx: &mut Transaction) {
    tx.add_table(NfProto::Inet, T, Some("test"));
    tx.add_base_chain(NfProto::Inet, T, "input", Hook::Input, -200);
    tx.add_set(
        NfProto::Inet,
        T,
        &SetSpec::intervals::<u32>("l.v4", Some("moat list l")),
    );
    tx.add_set(
        NfProto::Inet,
        T,
        &SetSpec::intervals::<u32>("l.v4.except", None),
    );
    tx.add_set(NfProto::Inet, T, &SetSpec::intervals::<u128>("l.v6", None));
}

#[test]
fn load_read_replace_and_refuse() {
    in_private_netns(|| {
        let mut nl = NfSocket::open().unwrap();
        let gen0 = nl.generation().unwrap();
        let mut tx = Transaction::new(Some(gen0));
        base(&mut tx);
        let v4: Vec<(u32, u32)> = (0..50_000u32)
            .map(|i| (i << 8, (i << 8) | 0x7f))
            .chain([(0xffff_ff00, u32::MAX)])
            .collect();
        tx.add_intervals(NfProto::Inet, T, "l.v4", &v4);
        tx.add_intervals(
            NfProto::Inet,
            T,
            "l.v6",
            &[(1u128 << 120, (1u128 << 120) + 255)],
        );
        let [a, b] = Expr::nfproto_is(false);
        let exprs = [
            a,
            b,
            Expr::LoadNetworkHeader { offset: 12, len: 4 },
            Expr::Lookup {
                set: "l.v4",
                inverted: false,
            },
            Expr::LoadNetworkHeader { offset: 12, len: 4 },
            Expr::Lookup {
                set: "l.v4.except",
                inverted: true,
            },
            Expr::Counter {
                packets: 5,
                bytes: 500,
            },
            Expr::Verdict(Verdict::Drop),
        ];
        tx.add_rule(NfProto::Inet, T, "input", &exprs, Some("l in"));
        nl.commit(tx).unwrap();

        let sets = nl.sets(NfProto::Inet, T).unwrap().unwrap();
        let main = sets.iter().find(|s| s.name == "l.v4").unwrap();
        assert_eq!(main.comment.as_deref(), Some("moat list l"));
        assert!(main.is_interval());
        assert_eq!(nl.ranges::<u32>(NfProto::Inet, T, "l.v4").unwrap(), v4);
        let rules = nl.rules(NfProto::Inet, T).unwrap().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].comment.as_deref(), Some("l in"));
        assert_eq!(rules[0].counter(), Some((5, 500)));
        assert_eq!(
            rules[0].lookups().collect::<Vec<_>>(),
            vec![("l.v4", false), ("l.v4.except", true)]
        );
        assert_eq!(
            nl.range_containing(NfProto::Inet, T, "l.v4", 0x0000_0105u32)
                .unwrap(),
            Some((0x100, 0x17f))
        );
        assert_eq!(
            nl.range_containing(NfProto::Inet, T, "l.v4", 0x0000_0185u32)
                .unwrap(),
            None
        );
        assert_eq!(
            nl.range_containing(NfProto::Inet, T, "l.v4", u32::MAX)
                .unwrap(),
            Some((0xffff_ff00, u32::MAX))
        );
        assert_eq!(nl.sets(NfProto::Inet, "nope").unwrap(), None);

        // nft agrees with what was written.
        let listing = std::process::Command::new("nft")
            .args(["list", "set", "inet", T, "l.v4"])
            .output();
        if let Ok(out) = listing {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("0.0.1.0/25"), "{text}");
            assert!(text.contains("255.255.255.0/24"), "{text}");
        }

        // A stale generation is refused and changes nothing.
        let mut stale = Transaction::new(Some(gen0));
        stale.flush_set(NfProto::Inet, T, "l.v4");
        assert!(matches!(nl.commit(stale), Err(NetlinkError::Changed)));

        // Replace in one transaction.
        let mut tx = Transaction::new(Some(nl.generation().unwrap()));
        tx.flush_set(NfProto::Inet, T, "l.v4");
        tx.add_intervals(NfProto::Inet, T, "l.v4", &[(0x0a00_0000u32, 0x0aff_ffff)]);
        nl.commit(tx).unwrap();
        assert_eq!(
            nl.ranges::<u32>(NfProto::Inet, T, "l.v4").unwrap(),
            vec![(0x0a00_0000, 0x0aff_ffff)]
        );

        // An overlap is refused, and the whole batch with it.
        let mut tx = Transaction::new(None);
        tx.flush_set(NfProto::Inet, T, "l.v4");
        tx.add_intervals(NfProto::Inet, T, "l.v4", &[(1u32, 5)]);
        tx.add_intervals(NfProto::Inet, T, "l.v4", &[(3u32, 9)]);
        let err = nl.commit(tx).unwrap_err();
        assert!(matches!(err, NetlinkError::Refused { .. }), "{err}");
        assert!(err.to_string().contains("l.v4"), "{err}");
        assert_eq!(
            nl.ranges::<u32>(NfProto::Inet, T, "l.v4").unwrap(),
            vec![(0x0a00_0000, 0x0aff_ffff)]
        );

        // A set in use cannot be deleted.
        let mut tx = Transaction::new(None);
        tx.delete_set(NfProto::Inet, T, "l.v4");
        assert_eq!(nl.commit(tx).unwrap_err().errno(), Some(libc::EBUSY));

        let mut tx = Transaction::new(None);
        tx.delete_rule(NfProto::Inet, T, "input", rules[0].handle);
        tx.delete_table(NfProto::Inet, T);
        nl.commit(tx).unwrap();
        assert_eq!(nl.rules(NfProto::Inet, T).unwrap(), None);
    });
}

#[test]
fn timed_elements_expire_refresh_and_list() {
    use std::time::Duration;
    in_private_netns(|| {
        let mut nl = NfSocket::open().unwrap();
        let mut tx = Transaction::new(None);
        tx.add_table(NfProto::Inet, T, None);
        tx.add_timeout_set(NfProto::Inet, T, &SetSpec::values::<u32>("b.v4", Some("b")));
        tx.add_timeout_set(NfProto::Inet, T, &SetSpec::values::<u128>("b.v6", None));
        let hour = Some(Duration::from_secs(3600));
        let short = Some(Duration::from_millis(300));
        tx.add_elements(
            NfProto::Inet,
            T,
            "b.v4",
            &[(1u32, hour), (2, None), (3, short)],
            true,
        );
        tx.add_elements(NfProto::Inet, T, "b.v6", &[(7u128, hour)], false);
        nl.commit(tx).unwrap();

        let sets = nl.sets(NfProto::Inet, T).unwrap().unwrap();
        assert!(sets.iter().all(|s| s.has_timeout() && !s.is_interval()));
        let mut elems = nl.elements::<u32>(NfProto::Inet, T, "b.v4").unwrap();
        elems.sort_by_key(|e| e.key);
        assert_eq!(elems.len(), 3);
        assert_eq!(elems[0].timeout, hour);
        let left = elems[0].expires_in.unwrap();
        assert!(left <= Duration::from_secs(3600) && left > Duration::from_secs(3590));
        assert_eq!((elems[1].timeout, elems[1].expires_in), (None, None));
        let one = nl
            .element(NfProto::Inet, T, "b.v6", 7u128)
            .unwrap()
            .unwrap();
        assert_eq!(one.timeout, hour);
        assert_eq!(nl.element(NfProto::Inet, T, "b.v6", 8u128).unwrap(), None);

        // An exclusive add of a key in the set is refused, and nothing else
        // of its transaction is applied.
        let mut tx = Transaction::new(None);
        tx.add_elements(NfProto::Inet, T, "b.v4", &[(9u32, None)], false);
        tx.add_elements(NfProto::Inet, T, "b.v4", &[(1u32, short)], true);
        assert_eq!(nl.commit(tx).unwrap_err().errno(), Some(libc::EEXIST));
        assert_eq!(nl.element(NfProto::Inet, T, "b.v4", 9u32).unwrap(), None);

        // Delete and add in one transaction sets a new timeout, also
        // turning a permanent element into a timed one.
        let mut tx = Transaction::new(None);
        tx.delete_elements(NfProto::Inet, T, "b.v4", &[1u32, 2]);
        tx.add_elements(NfProto::Inet, T, "b.v4", &[(1u32, short), (2, short)], true);
        nl.commit(tx).unwrap();
        let two = nl.element(NfProto::Inet, T, "b.v4", 2u32).unwrap().unwrap();
        assert_eq!(two.timeout, short);

        // Deleting a key that is not there refuses the transaction.
        let mut tx = Transaction::new(None);
        tx.delete_elements(NfProto::Inet, T, "b.v4", &[42u32]);
        assert_eq!(nl.commit(tx).unwrap_err().errno(), Some(libc::ENOENT));

        // The kernel lifts expired elements by itself.
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(
            nl.elements::<u32>(NfProto::Inet, T, "b.v4").unwrap(),
            vec![]
        );
        assert_eq!(nl.element(NfProto::Inet, T, "b.v4", 3u32).unwrap(), None);

        let mut tx = Transaction::new(None);
        tx.delete_table(NfProto::Inet, T);
        nl.commit(tx).unwrap();
    });
}

#[test]
fn long_dumps_arrive_whole_in_order_and_can_stop_early() {
    in_private_netns(|| {
        const RULES: u64 = 20_000;
        let mut nl = NfSocket::open().unwrap();
        let mut tx = Transaction::new(None);
        base(&mut tx);
        for i in 0..RULES {
            let exprs = [
                Expr::Counter {
                    packets: i,
                    bytes: 2 * i,
                },
                Expr::Verdict(Verdict::Accept),
            ];
            tx.add_rule(
                NfProto::Inet,
                T,
                "input",
                &exprs,
                Some(&format!("rule {i}")),
            );
        }
        nl.commit(tx).unwrap();

        // About 200 datagrams: every rule comes, once and in order.
        let rules = nl.rules(NfProto::Inet, T).unwrap().unwrap();
        assert_eq!(rules.len() as u64, RULES);
        for (i, rule) in (0..).zip(&rules) {
            assert_eq!(rule.comment, Some(format!("rule {i}")));
            assert_eq!(rule.counter(), Some((i, 2 * i)));
        }

        // A reader that stops after 2,000 rules gets its own error back ...
        let mut seen = 0;
        let stopped = nl.dump::<NetlinkError>(
            NFT_MSG_GETRULE,
            NfProto::Inet.number(),
            &|w| w.attr_str(NFTA_RULE_TABLE, T),
            &mut |msg| {
                seen += usize::from(msg.is_some());
                if seen == 2_000 {
                    return Err(NetlinkError::Changed);
                }
                Ok(())
            },
        );
        assert!(matches!(stopped, Err(NetlinkError::Changed)), "{stopped:?}");
        assert_eq!(seen, 2_000);
        // ... and the socket answers the next requests whole.
        assert_eq!(
            nl.rules(NfProto::Inet, T).unwrap().unwrap().len() as u64,
            RULES
        );
        assert!(nl.generation().is_ok());
    });
}
