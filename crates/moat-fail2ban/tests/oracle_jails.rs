//! Jail files read by moat and by fail2ban's own JailsReader (Debian's jail.conf with a
//! jail.local enabling several jails; seed 004's jail.conf as written): the fields moat
//! uses must agree.

mod oracle_common;

use oracle_common::{fail2ban_available, PYTHON};

use moat_fail2ban::{load_jails, parse_ports, BanTime, JailDef, Protocol};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Dumps, per enabled jail, what fail2ban would send its server.
const ORACLE: &str = r#"
import json, logging, sys
logging.disable(logging.CRITICAL)
from fail2ban.client.jailsreader import JailsReader
from fail2ban.server.mytime import MyTime
r = JailsReader(basedir=sys.argv[1], share_config={})
r.read(); r.getOptions()
out = {}
for jail in r.jails:
    name = jail.getName()
    stream = jail.convert(allow_no_files=True)
    j = {'failregex': [], 'ignoreregex': [], 'logpath': [], 'ignoreip': [], 'journalmatch': [], 'actions': []}
    acts = {}
    for a in jail._JailReader__actions:
        acts[a.getName()] = {'file': a.getFile(), 'options': {}}
    for cmd in stream:
        if cmd[0] == 'add': j['backend'] = cmd[2]; continue
        if cmd[0] == 'multi-set' and cmd[2] in ('addfailregex', 'addignoreregex'):
            j[cmd[2][3:]] += cmd[3]; continue
        if cmd[0] == 'multi-set' and cmd[2] == 'action':
            acts[cmd[3]]['options'] = dict(cmd[4]); continue
        if cmd[0] != 'set': continue
        k = cmd[2]
        if k in ('addfailregex', 'addignoreregex'): j[k[3:]].append(cmd[3])
        elif k == 'addlogpath': j['logpath'].append(cmd[3])
        elif k == 'addignoreip': j['ignoreip'] += cmd[3:]
        elif k == 'addjournalmatch':
            if j['journalmatch']: j['journalmatch'].append('+')
            j['journalmatch'] += cmd[3:]
        elif k == 'action': acts[cmd[3]]['options'][cmd[4]] = cmd[5]
        elif k in ('findtime', 'bantime', 'bantime.maxtime', 'bantime.rndtime'):
            j[k] = MyTime.str2seconds(cmd[3])
        elif k == 'addaction': pass
        else: j[k] = cmd[3]
    j['actions'] = list(acts.values())
    out[name] = j
json.dump(out, sys.stdout)
"#;

fn oracle(dir: &Path) -> BTreeMap<String, Value> {
    let out = Command::new(PYTHON)
        .args(["-c", ORACLE, dir.to_str().unwrap()])
        .env("PYTHONPATH", "/usr/lib/python3/dist-packages")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("moat-f2b-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn secs(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| v.as_str().unwrap().parse().unwrap())
}

/// Compares one jail; returns the differences.
fn compare(j: &JailDef, want: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut check = |what: &str, ok: bool, got: String, exp: String| {
        if !ok {
            diffs.push(format!("[{}] {what}: moat {got}, fail2ban {exp}", j.name));
        }
    };
    let f = &j.filter;
    let w = |k: &str| want.get(k).cloned().unwrap_or(Value::Null);
    check(
        "failregex",
        f.failregex == strs(&w("failregex")),
        format!("{:?}", f.failregex),
        w("failregex").to_string(),
    );
    check(
        "ignoreregex",
        f.ignoreregex == strs(&w("ignoreregex")),
        format!("{:?}", f.ignoreregex),
        w("ignoreregex").to_string(),
    );
    check(
        "prefregex",
        f.prefregex.as_deref() == w("prefregex").as_str(),
        format!("{:?}", f.prefregex),
        w("prefregex").to_string(),
    );
    check(
        "datepattern",
        f.datepattern.as_deref() == w("datepattern").as_str(),
        format!("{:?}", f.datepattern),
        w("datepattern").to_string(),
    );
    check(
        "maxlines",
        f.maxlines as u64 == w("maxlines").as_u64().unwrap_or(1),
        f.maxlines.to_string(),
        w("maxlines").to_string(),
    );
    check(
        "journalmatch",
        f.journalmatch == strs(&w("journalmatch")),
        format!("{:?}", f.journalmatch),
        w("journalmatch").to_string(),
    );
    check(
        "backend",
        j.backend == w("backend").as_str().unwrap_or(""),
        j.backend.clone(),
        w("backend").to_string(),
    );
    check(
        "maxretry",
        Some(j.maxretry as u64) == w("maxretry").as_u64(),
        j.maxretry.to_string(),
        w("maxretry").to_string(),
    );
    check(
        "findtime",
        j.findtime.as_secs_f64() == secs(&w("findtime")),
        format!("{:?}", j.findtime),
        w("findtime").to_string(),
    );
    let bt = match j.bantime {
        BanTime::Permanent => -1.0,
        BanTime::Seconds(d) => d.as_secs_f64(),
    };
    let wbt = secs(&w("bantime"));
    check(
        "bantime",
        bt == wbt || (bt < 0.0 && wbt < 0.0),
        format!("{:?}", j.bantime),
        w("bantime").to_string(),
    );
    check(
        "ignoreip",
        j.ignoreip == strs(&w("ignoreip")),
        format!("{:?}", j.ignoreip),
        w("ignoreip").to_string(),
    );
    check(
        "ignoreself",
        j.ignoreself == w("ignoreself").as_bool().unwrap_or(true),
        j.ignoreself.to_string(),
        w("ignoreself").to_string(),
    );
    check(
        "usedns",
        Some(j.usedns.as_str()) == w("usedns").as_str().or(Some("warn")),
        j.usedns.clone(),
        w("usedns").to_string(),
    );
    let inc = w("bantime.increment").as_bool().unwrap_or(false);
    check(
        "bantime.increment",
        j.increment.is_some() == inc,
        format!("{:?}", j.increment),
        inc.to_string(),
    );
    if let Some(i) = &j.increment {
        let m = w("bantime.maxtime");
        if !m.is_null() {
            check(
                "bantime.maxtime",
                i.maxtime.map(|d| d.as_secs_f64()) == Some(secs(&m)),
                format!("{:?}", i.maxtime),
                m.to_string(),
            );
        }
        let f = w("bantime.factor");
        if !f.is_null() {
            check(
                "bantime.factor",
                i.factor == f.as_str().unwrap().parse::<f64>().unwrap(),
                i.factor.to_string(),
                f.to_string(),
            );
        }
    }
    // Log paths: fail2ban lists the files that exist.
    let mine: Vec<String> = j
        .logpaths
        .iter()
        .filter(|p| Path::new(p).exists())
        .cloned()
        .collect();
    check(
        "logpath",
        mine == strs(&w("logpath")),
        format!("{mine:?}"),
        w("logpath").to_string(),
    );
    // Actions: the non-blocking ones by name; the blocking ones by the ports fail2ban resolved.
    let mut other = Vec::new();
    for a in w("actions").as_array().unwrap() {
        let file = a["file"].as_str().unwrap();
        let o = &a["options"];
        let is_ban = [
            "iptables",
            "nftables",
            "firewallcmd",
            "shorewall",
            "ufw",
            "route",
        ]
        .iter()
        .any(|p| file.starts_with(p));
        if !is_ban {
            other.push(file.to_string());
            continue;
        }
        let scope = j.scope.as_ref().expect("a ban scope");
        let all = file.ends_with("allports") || o["type"].as_str() == Some("allports");
        if all {
            check(
                "scope",
                scope.all,
                format!("{scope:?}"),
                format!("{file} {o}"),
            );
        } else if let Some(port) = o["port"].as_str() {
            let ports = parse_ports(port).unwrap();
            let proto = match o["protocol"].as_str().unwrap_or("tcp") {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                _ => Protocol::All,
            };
            check(
                "scope",
                !scope.all
                    && ports.iter().all(|p| scope.ports.contains(p))
                    && (scope.protocol == proto || scope.protocol == Protocol::All),
                format!("{scope:?}"),
                format!("{file} {o}"),
            );
        }
    }
    let mine: Vec<String> = j.actions.iter().map(|a| a.name.clone()).collect();
    check(
        "actions",
        mine == other,
        format!("{mine:?}"),
        format!("{other:?}"),
    );
    diffs
}

fn agree(dir: &Path) -> usize {
    let want = oracle(dir);
    let set = load_jails(dir).unwrap();
    let mine: Vec<&str> = set.jails.iter().map(|j| j.name.as_str()).collect();
    let theirs: Vec<&str> = want.keys().map(String::as_str).collect();
    let mut sorted = mine.clone();
    sorted.sort();
    assert_eq!(sorted, theirs, "enabled jails");
    let diffs: Vec<String> = set
        .jails
        .iter()
        .flat_map(|j| compare(j, &want[&j.name]))
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    set.jails.len()
}

#[test]
fn debian_jail_conf_agrees_with_fail2ban() {
    if !fail2ban_available("/etc/fail2ban/jail.conf") {
        return;
    }
    let dir = temp_dir("debian");
    copy_dir(Path::new("/etc/fail2ban"), &dir);
    let logs = dir.join("log");
    std::fs::create_dir_all(&logs).unwrap();
    for f in [
        "auth.log",
        "vsftpd.log",
        "fail2ban.log",
        "nginx.log",
        "mail.log",
        "apache.log",
        "x.log",
    ] {
        std::fs::write(logs.join(f), "").unwrap();
    }
    let l = logs.display();
    std::fs::write(
        dir.join("jail.local"),
        format!(
            "[DEFAULT]\nignoreip = 127.0.0.1/8 ::1, 192.0.2.0/24\n  example.com\nbantime.increment = true\nbantime.factor = 2\nbantime.maxtime = 5w\n\n\
             [sshd]\nenabled = true\nmode = aggressive\nlogpath = {l}/auth.log\nmaxretry = 4\n\n\
             [vsftpd]\nenabled = true\nlogpath = {l}/vsftpd.log\n\n\
             [recidive]\nenabled = true\nlogpath = {l}/fail2ban.log\n\n\
             [nginx-http-auth]\nenabled = yes\nlogpath = {l}/nginx.log\naction = %(action_mw)s\n\n\
             [postfix]\nenabled = true\nmode = aggressive\nlogpath = {l}/mail.log\nbantime = 1h30m\nfindtime = 1d\n\n\
             [dovecot]\nenabled = true\nlogpath = {l}/mail.log\nbanaction = nftables[type=multiport]\n\n\
             [apache-auth]\nenabled = true\nlogpath = {l}/apache.log\n  {l}/x.log\nbantime = -1\nignoreself = false\n\n\
             [selinux-ssh]\nenabled = false\n\n\
             [my-own]\nenabled = true\nfilter = sshd[mode=ddos, publickey=invalid]\nlogpath = {l}/auth.log\naction = iptables-allports[name=x]\n  sendmail-whois[name=x, dest=root]\n"
        ),
    )
    .unwrap();
    let n = agree(&dir);
    eprintln!("Debian jail.conf + jail.local: {n} jails agree with fail2ban");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Seed 004's jail.conf as written in the article (the `sendmail-whois` lines unindented).
const SEED_004: &str = "[DEFAULT]
ignoreip = 127.0.0.1 192.168.1.172
bantime = 1000
findtime = 1000
maxretry = 3
backend = auto
[ssh-iptables]
enabled = true
filter = sshd
action = iptables[name=SSH, port=ssh, protocol=tcp]
sendmail-whois[name=SSH, dest=root, sender=root@localhost]
logpath = /var/log/secure
maxretry = 3
[vsftpd-iptables]
enabled = true
filter = vsftpd
action = iptables[name=VSFTPD, port=ftp, protocol=tcp]
sendmail-whois[name=VSFTPD, dest=root@localhost]
#logpath = /var/log/vsftpd.log
logpath = /var/log/secure
maxretry = 10
bantime = 1800
";

#[test]
fn seed_004_as_written() {
    let dir = temp_dir("seed004");
    std::fs::write(dir.join("jail.conf"), SEED_004).unwrap();
    // Our own minimal filters, so the test needs neither fail2ban nor built-in filters.
    std::fs::create_dir_all(dir.join("filter.d")).unwrap();
    for f in ["sshd", "vsftpd"] {
        std::fs::write(
            dir.join("filter.d").join(format!("{f}.conf")),
            format!("[Definition]\nfailregex = ^{f} failure from <HOST>$\n"),
        )
        .unwrap();
    }
    let set = load_jails(&dir.join("jail.conf")).unwrap();
    let names: Vec<&str> = set.jails.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["ssh-iptables", "vsftpd-iptables"]);
    let ssh = &set.jails[0];
    assert_eq!(ssh.line, 7);
    assert_eq!(ssh.logpaths, ["/var/log/secure"]);
    assert_eq!((ssh.maxretry, ssh.findtime.as_secs()), (3, 1000));
    assert_eq!(
        ssh.bantime,
        BanTime::Seconds(std::time::Duration::from_secs(1000))
    );
    assert_eq!(ssh.ignoreip, ["127.0.0.1", "192.168.1.172"]);
    let scope = ssh.scope.as_ref().unwrap();
    assert_eq!((scope.protocol, scope.all), (Protocol::Tcp, false));
    assert_eq!(scope.ports, parse_ports("22").unwrap());
    assert!(
        ssh.actions.is_empty(),
        "the unindented sendmail-whois is ignored"
    );
    let vs = &set.jails[1];
    assert_eq!(vs.scope.as_ref().unwrap().ports, parse_ports("21").unwrap());
    assert_eq!(
        (vs.maxretry, vs.bantime),
        (10, BanTime::Seconds(std::time::Duration::from_secs(1800)))
    );
    let lines: Vec<usize> = set.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [11, 18], "{:?}", set.warnings);
    assert!(
        set.warnings[0]
            .to_string()
            .contains("jail.conf:11: `sendmail-whois[name=SSH"),
        "{}",
        set.warnings[0]
    );

    // Indented, the second line is a second action.
    let indented = SEED_004.replace("\nsendmail-whois", "\n       sendmail-whois");
    std::fs::write(dir.join("jail.conf"), &indented).unwrap();
    let set = load_jails(&dir).unwrap();
    assert!(set.warnings.is_empty(), "{:?}", set.warnings);
    assert_eq!(set.jails[0].actions[0].name, "sendmail-whois");
    assert_eq!(set.jails[0].actions[0].options["dest"], "root");

    if fail2ban_available("/etc/fail2ban/jail.conf") {
        std::fs::write(dir.join("jail.conf"), SEED_004).unwrap();
        copy_dir(Path::new("/etc/fail2ban/action.d"), &dir.join("action.d"));
        assert_eq!(agree(&dir), 2);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn broken_jails_name_file_and_line() {
    let dir = temp_dir("broken");
    std::fs::create_dir_all(dir.join("filter.d")).unwrap();
    std::fs::write(
        dir.join("filter.d/f.conf"),
        "[Definition]\nfailregex = ^x <HOST>$\n",
    )
    .unwrap();
    let jail = |body: &str| {
        std::fs::write(
            dir.join("jail.conf"),
            format!("[j]\nenabled = true\nfilter = f\nlogpath = /x\n{body}"),
        )
        .unwrap();
        moat_fail2ban::check_jails(&dir).unwrap_err()
    };
    let e = jail("bantime = 10 parsecs\n");
    assert!(
        e[0].to_string()
            .starts_with(&format!("{}:5: bantime", dir.join("jail.conf").display())),
        "{}",
        e[0]
    );
    let e = jail("maxretry = many\n");
    assert_eq!(e[0].line, 5);
    let e = jail("action = iptables[port=ssh\n");
    assert_eq!(e[0].line, 5, "{}", e[0]);
    let e = jail("[k]\nenabled = true\nfilter = nosuchfilter\nlogpath = /x\n");
    assert_eq!((e[0].line, e.len()), (7, 1), "{e:?}");
    let e = jail("backend = inotify\n");
    assert!(e[0].message.contains("backend"), "{}", e[0]);
    std::fs::write(dir.join("jail.conf"), "[j]\nenabled = true\nfilter = f\n").unwrap();
    let e = moat_fail2ban::check_jails(&dir).unwrap_err();
    assert!(e[0].message.contains("logpath"), "{}", e[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}
