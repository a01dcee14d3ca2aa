//! The driver against the real kernel, each test in a private network
//! namespace of its own thread (`unshare(CLONE_NEWNET)`), which vanishes
//! with the thread. Skipped unless root; with `CI=true` a skip is a failure.

use moat_model::Hook;

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
