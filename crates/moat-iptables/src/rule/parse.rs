//! Reading rule words into a [`RuleSpec`], the way iptables' getopt_long loop does:
//! basic options, `-m` loading match modules, options of loaded modules (abbreviated or
//! not, `--opt=value` or not), the implicit protocol match, and `-j`/`-g`.

use moat_model::Family;

use super::error::{fail, refused_by_kernel, Res};
use super::ext::{Cx, Opt};
use super::matches::{merge_port_matches, MatchSpec};
use super::names::parse_protocol;
use super::options::{
    command_candidates, resolve, OptDef, Owner, Resolved, BASE_OPTIONS, COMMAND_OPTIONS,
    SHORT_OPTIONS,
};
use super::suggest::closest;
use super::targets::TargetSpec;
use super::values::{parse_iface, parse_net, parse_port_range, AddrSyntax};
use super::{RuleParseError, RuleSpec, Warning};

/// Extensions' flags that may be given again: policy's `--next` starts
/// another element, rateest's comparison comes before each quantity
/// (iptables' own save repeats it), and the set match's and target's flags
/// are read without a check, as iptables reads them.
const REPEATABLE_FLAGS: &[&str] = &[
    "--next",
    "--rateest-lt",
    "--rateest-gt",
    "--rateest-eq",
    "--return-nomatch",
    "--update-counters",
    "--update-subcounters",
    "--exist",
];

/// Parses rule words for `family`.
pub(crate) fn parse(args: &[&str], family: Family) -> Res<(RuleSpec, Vec<Warning>)> {
    let mut p = Parser {
        words: args,
        pos: 0,
        spec: RuleSpec::empty(family),
        warnings: Vec::new(),
        seen: Vec::new(),
        loads: Vec::new(),
        implicit_done: false,
        protocol_written: "",
        flags_given: Vec::new(),
        invert: false,
        last_option: None,
        kernel_refuses: None,
    };
    p.run()?;
    p.finish()?;
    // What only the kernel refuses comes after every check of iptables' own.
    if let Some(message) = p.kernel_refuses {
        return refused_by_kernel(message);
    }
    Ok((p.spec, p.warnings))
}

struct Parser<'a> {
    words: &'a [&'a str],
    pos: usize,
    spec: RuleSpec,
    warnings: Vec<Warning>,
    /// Basic options already given (by short name).
    seen: Vec<&'static str>,
    /// Loaded extensions, oldest first.
    loads: Vec<Owner>,
    /// Whether the protocol's match was already loaded implicitly.
    implicit_done: bool,
    /// The protocol as written after `-p`.
    protocol_written: &'a str,
    /// The extensions' flags given so far, with their extension.
    flags_given: Vec<(Owner, &'static str)>,
    /// Whether a `!` waits for the next option.
    invert: bool,
    /// The last option read and how many values it took.
    last_option: Option<(&'a str, usize)>,
    /// Why the kernel will refuse the rule, found while reading it (told
    /// once the words are all read, as iptables learns it only then).
    kernel_refuses: Option<String>,
}

/// Every option any extension moat supports defines, with the extension's
/// description (computed once per family).
fn all_extension_options(family: Family) -> &'static [(String, OptDef)] {
    static V4: std::sync::OnceLock<Vec<(String, OptDef)>> = std::sync::OnceLock::new();
    static V6: std::sync::OnceLock<Vec<(String, OptDef)>> = std::sync::OnceLock::new();
    let cell = match family {
        Family::Ipv4 => &V4,
        Family::Ipv6 => &V6,
    };
    cell.get_or_init(|| collect_extension_options(family))
}

fn collect_extension_options(family: Family) -> Vec<(String, OptDef)> {
    let mut all = Vec::new();
    for name in super::matches::SUPPORTED {
        if let Ok(m) = MatchSpec::load(name, family) {
            all.extend(m.options().iter().map(|&d| (format!("match {name}"), d)));
        }
    }
    for name in super::targets::SUPPORTED {
        if let Ok(t) = TargetSpec::load(name, false, family) {
            all.extend(t.options().iter().map(|&d| (format!("target {name}"), d)));
        }
    }
    all
}

/// Every long option of the base rule syntax and of every extension, both families.
fn every_option() -> &'static [OptDef] {
    static ALL: std::sync::OnceLock<Vec<OptDef>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        BASE_OPTIONS
            .iter()
            .copied()
            .chain(all_extension_options(Family::Ipv4).iter().map(|(_, d)| *d))
            .chain(all_extension_options(Family::Ipv6).iter().map(|(_, d)| *d))
            .collect()
    })
}

/// The rule options that take two values; the others take at most one
/// (a test checks both against every option's table).
const TWO_VALUE_OPTIONS: &[&str] = &[
    "--add-set",
    "--chunk-types",
    "--del-set",
    "--map-set",
    "--match-set",
    // set's old name of --match-set (recent's --set takes none).
    "--set",
    "--tcp-flags",
];

/// How many of the words `after` option `opt` are its values, looked up
/// only where the answer can matter: when a word it could take starts
/// with `-` (the next one, or the one after for an option that may take
/// two). Any other word reads the same as a value and as a word of its
/// own, and looking up an extension's option reads the option tables of
/// every extension (half of a single `-j REJECT --reject-with` command's
/// work).
pub(crate) fn values_taken<S: AsRef<str>>(opt: &str, after: &[S]) -> usize {
    let dashed = |i: usize| after.get(i).is_some_and(|w| w.as_ref().starts_with('-'));
    let may_take_two = || {
        let third = opt.as_bytes().get(2);
        third.is_some()
            && TWO_VALUE_OPTIONS
                .iter()
                .any(|o| o.as_bytes().get(2) == third && o.starts_with(opt))
    };
    if dashed(0) || (dashed(1) && may_take_two()) {
        option_arity(opt).unwrap_or(0)
    } else {
        0
    }
}

/// How many values rule option `opt` takes (see [`super::option_arity`]).
pub(crate) fn option_arity(opt: &str) -> Option<usize> {
    if let Some(d) = SHORT_OPTIONS.iter().find(|d| d.name == opt) {
        return Some(d.words());
    }
    if !opt.starts_with("--") || opt.len() < 3 {
        return None;
    }
    let defs = every_option();
    if let Some(d) = defs.iter().find(|d| d.name == opt) {
        return Some(d.words());
    }
    let mut arities = defs
        .iter()
        .filter(|d| d.name.starts_with(opt))
        .map(|d| d.words());
    let first = arities.next()?;
    arities.all(|a| a == first).then_some(first)
}

/// The one of iptables' own long options that `name` abbreviates, as
/// getopt reads a unique prefix (`--line` for `--line-numbers`); `None`
/// when `name` is an option's whole name, begins several of iptables' own,
/// or begins a rule option of any extension (getopt finds it ambiguous once
/// that extension is loaded: the rule parser then reads it).
pub(crate) fn command_option_abbreviated(name: &str) -> Option<&'static str> {
    if name.len() < 3 || !name.starts_with("--") {
        return None;
    }
    // The options `name` begins sit together in the sorted table: most
    // words begin none, and the table of every extension's options is not
    // built for them.
    let at = COMMAND_OPTIONS.partition_point(|o| *o < name);
    let begun = |i: usize| COMMAND_OPTIONS.get(i).filter(|o| o.starts_with(name));
    let (Some(&option), None) = (begun(at), begun(at + 1)) else {
        return None;
    };
    if option == name {
        return None;
    }
    // A rule option's whole name or prefix (`--set` of recent) stays one.
    let rule_option = every_option().iter().any(|d| d.name.starts_with(name));
    (!rule_option).then_some(option)
}

impl<'a> Parser<'a> {
    fn run(&mut self) -> Res<()> {
        while let Some(word) = self.words.get(self.pos).copied() {
            self.pos += 1;
            if word == "!" {
                if self.invert {
                    return fail("two `!` in a row: negate an option with a single `!` before it");
                }
                self.invert = true;
                continue;
            }
            if let Some(long) = word.strip_prefix("--").filter(|l| !l.is_empty()) {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (long, None),
                };
                // The option with its dashes: the word up to any `=`.
                self.long_option(word, &word[..2 + name.len()], inline)?;
            } else if word.len() >= 2
                && word.starts_with('-')
                && !word[1..].starts_with(|c: char| c.is_ascii_digit())
            {
                self.short_option(word)?;
            } else {
                return Err(self.unexpected_word(word));
            }
        }
        if self.invert {
            return fail("`!` at the end of the rule has nothing to negate (put it before the option it negates)");
        }
        Ok(())
    }

    fn short_option(&mut self, word: &'a str) -> Res<()> {
        let Some(letter) = word.get(..2) else {
            return fail(format!("unknown option \"{word}\""));
        };
        let Some(&def) = SHORT_OPTIONS.iter().find(|d| d.name == letter) else {
            return fail(format!(
                "unknown option \"{word}\" (rule options are -p, -s, -d, -i, -o, -f, -m, -j, -g and long options of loaded matches and targets)"
            ));
        };
        let attached = &word[2..];
        if !attached.is_empty() {
            let hint = if def.arity == 0 {
                String::new()
            } else {
                format!(" (write `{letter} {attached}`)")
            };
            return fail(format!("unknown option \"{word}\"{hint}"));
        }
        self.apply(Owner::Base, def, letter, None)
    }

    /// Every option a long option name may resolve to, in precedence
    /// order: the basic ones, the command's, then the loaded extensions',
    /// the latest first.
    fn candidates(&self) -> impl Iterator<Item = (Owner, OptDef)> + Clone + '_ {
        let loaded = self.loads.iter().rev().flat_map(|&owner| {
            let opts = match owner {
                Owner::Match(i) => self
                    .spec
                    .matches
                    .get(i)
                    .map(MatchSpec::options)
                    .unwrap_or_default(),
                Owner::Target => self
                    .spec
                    .target
                    .as_ref()
                    .map(TargetSpec::options)
                    .unwrap_or_default(),
                Owner::Base | Owner::Command => &[],
            };
            opts.iter().map(move |&d| (owner, d))
        });
        BASE_OPTIONS
            .iter()
            .map(|&d| (Owner::Base, d))
            .chain(command_candidates())
            .chain(loaded)
    }

    fn long_option(&mut self, word: &str, name: &str, inline: Option<&'a str>) -> Res<()> {
        let mut resolved = resolve(name, self.candidates());
        if resolved == Resolved::Unknown && !self.implicit_done {
            if let (proto @ 1.., _) = self.extension_protocol() {
                let written = self.protocol_written;
                if let Some(module) = MatchSpec::implicit(proto, self.spec.family, written) {
                    self.implicit_done = true;
                    self.load_match(module)?;
                    resolved = resolve(name, self.candidates());
                }
            }
        }
        match resolved {
            // iptables reads these options' value as the word after them
            // (its `-s ! x` reading), so it refuses `--source=x`.
            Resolved::One(Owner::Base, def, ..)
                if inline.is_some()
                    && matches!(def.canon, "-s" | "-d" | "-i" | "-o" | "-p" | "-j" | "-g") =>
            {
                fail(format!(
                    "iptables takes the value of {name} as the next word, not after `=': \
                     write `{name} {}`",
                    inline.unwrap_or_default()
                ))
            }
            Resolved::One(owner, def) => self.apply(owner, def, def.name, inline),
            Resolved::Ambiguous(names) => fail(format!(
                "option {name} is ambiguous: it could be {} (write it out in full)",
                names.join(", ")
            )),
            Resolved::Unknown => Err(self.unknown_option(word, name)),
        }
    }

    /// The name of the extension `owner` stands for (`-m` or `-j`).
    fn extension_name(&self, owner: Owner) -> &str {
        match owner {
            Owner::Match(i) => self.spec.matches.get(i).map_or("", MatchSpec::name),
            Owner::Target => self.spec.target.as_ref().map_or("", |t| t.name()),
            Owner::Base | Owner::Command => "",
        }
    }

    fn load_match(&mut self, name: &str) -> Res<()> {
        let m = MatchSpec::load(name, self.spec.family)?;
        self.spec.matches.push(m);
        self.loads.push(Owner::Match(self.spec.matches.len() - 1));
        Ok(())
    }

    /// Whether `w` is an option word rather than a value.
    fn is_option_word(w: &str) -> bool {
        SHORT_OPTIONS.iter().any(|d| d.name == w) || BASE_OPTIONS.iter().any(|d| d.name == w)
    }

    fn apply(
        &mut self,
        owner: Owner,
        def: OptDef,
        spelled: &'a str,
        inline: Option<&'a str>,
    ) -> Res<()> {
        let mut invert = std::mem::take(&mut self.invert);
        if invert && !def.invert {
            return fail(format!("{spelled} cannot be negated with `!`"));
        }
        if inline.is_some() && def.arity == 0 {
            return fail(format!("{spelled} takes no value"));
        }
        // An extension's flag counts once, as iptables' option parser
        // has it, and so does an option its extension marks so.
        let flag = def.arity == 0 && !def.optional && !REPEATABLE_FLAGS.contains(&def.canon);
        if (flag || def.once) && matches!(owner, Owner::Match(_) | Owner::Target) {
            if self.flags_given.contains(&(owner, def.canon)) {
                return fail(format!(
                    "{}: option \"{spelled}\" can only be used once",
                    self.extension_name(owner)
                ));
            }
            self.flags_given.push((owner, def.canon));
        }
        // The values are the words that follow (after the inline one of
        // `--opt=value`), so most options borrow them as they are.
        let words = self.words;
        let mut start = self.pos;
        let mut option_as_value = None;
        let have = |pos: usize, start: usize| usize::from(inline.is_some()) + pos - start;
        while have(self.pos, start) < def.arity {
            let next = words.get(self.pos).copied();
            if def.optional && next.is_none_or(|w| w.starts_with('-') || w.starts_with('!')) {
                break;
            }
            let Some(w) = next else {
                return fail(self.missing_value(spelled, def, have(self.pos, start)));
            };
            if w == "!" && have(self.pos, start) == 0 && def.invert && !invert {
                let Some(v) = self.words.get(self.pos + 1).copied() else {
                    return fail(self.missing_value(spelled, def, 0));
                };
                self.warnings.push(Warning::advice(format!(
                    "`{spelled} ! {v}` is the old negation syntax; write `! {spelled} {v}`"
                )));
                invert = true;
                self.pos += 1;
                start = self.pos;
                continue;
            }
            // As getopt, a value may be spelled as an option (`--comment
            // -j`); should the option refuse it, the error says so.
            if Self::is_option_word(w) {
                option_as_value.get_or_insert(w);
            }
            self.pos += 1;
        }
        let following = &words[start..self.pos];
        let with_inline: Vec<&'a str>;
        let values = match inline {
            Some(v) => {
                with_inline = std::iter::once(v)
                    .chain(following.iter().copied())
                    .collect();
                &with_inline
            }
            None => following,
        };
        self.last_option = Some((spelled, def.arity));
        let parsed = self.parse_values(owner, def, spelled, invert, values);
        match (parsed, option_as_value) {
            (Err(mut e), Some(w)) => {
                e.message = format!(
                    "{}; {spelled} took the next word, the option {w}, as its value: is its value missing?",
                    e.message
                );
                Err(e)
            }
            (parsed, _) => parsed,
        }
    }

    /// Gives option `def` (spelled `spelled`) its `values`: a base option
    /// sets the rule's field, an extension's goes to its match or target.
    fn parse_values(
        &mut self,
        owner: Owner,
        def: OptDef,
        spelled: &'a str,
        invert: bool,
        values: &[&'a str],
    ) -> Res<()> {
        match owner {
            Owner::Base => self.base_option(def.canon, invert, values),
            Owner::Command => fail(format!(
                "{spelled} is an option of the iptables command, not of a rule; it cannot appear among the rule's options"
            )),
            Owner::Match(i) => {
                let proto = self.extension_protocol();
                let mut opt = Opt {
                    name: def.canon,
                    invert,
                    values,
                    family: self.spec.family,
                    proto,
                    warnings: &mut self.warnings,
                };
                match self.spec.matches.get_mut(i) {
                    Some(m) => m.parse(&mut opt),
                    None => fail(format!("{spelled} has no match to go to")),
                }
            }
            Owner::Target => {
                let proto = self.extension_protocol();
                let mut opt = Opt {
                    name: def.canon,
                    invert,
                    values,
                    family: self.spec.family,
                    proto,
                    warnings: &mut self.warnings,
                };
                match self.spec.target.as_mut() {
                    Some(t) => t.parse(&mut opt),
                    None => fail(format!("{spelled} has no target to go to")),
                }
            }
        }
    }

    fn missing_value(&self, spelled: &str, def: OptDef, have: usize) -> String {
        match def.arity {
            1 => format!("{spelled} needs a value"),
            n => format!("{spelled} needs {n} values and got {have}"),
        }
    }

    fn once(&mut self, canon: &'static str) -> Res<()> {
        if self.seen.contains(&canon) {
            return fail(format!(
                "{canon} given twice (a rule can have only one {canon})"
            ));
        }
        self.seen.push(canon);
        Ok(())
    }

    fn base_option(&mut self, canon: &'static str, invert: bool, values: &[&'a str]) -> Res<()> {
        let v = values.first().copied().unwrap_or_default();
        let family = self.spec.family;
        match canon {
            "-p" => {
                self.once(canon)?;
                let p = parse_protocol(v, "-p")?;
                self.protocol_written = v;
                if p == 0 && invert {
                    return fail("`! -p all` can never match");
                }
                self.spec.protocol = (p != 0).then_some((p, invert));
                // IPv6 extension headers are not the packet's protocol
                // (hop-by-hop, routing, fragment, AH, destination options).
                if family == Family::Ipv6 && matches!(p, 43 | 44 | 51 | 60) && !invert {
                    self.warnings.push(Warning::as_iptables(format!(
                        "Warning: never matched protocol: {v}. use extension match instead."
                    )));
                }
            }
            "-s" | "-d" => {
                self.once(canon)?;
                let net = parse_net(v, family, canon, AddrSyntax::Xtables)?;
                if net.is_any() && invert {
                    // iptables-nft sends it; the kernel refuses the empty test.
                    self.kernel_refuses
                        .get_or_insert(format!("`! {canon} {v}` can never match"));
                }
                let slot = if canon == "-s" {
                    &mut self.spec.source
                } else {
                    &mut self.spec.destination
                };
                *slot = (!net.is_any()).then_some((net, invert));
            }
            "-i" | "-o" => {
                self.once(canon)?;
                let mut iface = parse_iface(v, canon, &mut self.warnings)?;
                if iface.is_none() {
                    // Every interface name matches `+`. Kept, so that the
                    // hook checks see it (iptables refuses `-i +` in OUTPUT),
                    // but printed only negated: iptables takes `! -i +`,
                    // which matches no packet.
                    if invert {
                        self.warnings.push(Warning::advice(format!(
                            "`! {canon} +` matches no packet, so this rule never applies"
                        )));
                    }
                    iface = Some(v.to_string());
                }
                let slot = if canon == "-i" {
                    &mut self.spec.in_iface
                } else {
                    &mut self.spec.out_iface
                };
                *slot = iface.map(|name| (name, invert));
            }
            "-f" => {
                self.once(canon)?;
                if family == Family::Ipv6 {
                    return fail("`-f' is not supported in IPv6: match fragments with -m frag");
                }
                self.spec.fragment = Some(invert);
            }
            "-m" => self.load_match(v)?,
            _ => {
                if self.spec.target.is_some() {
                    return fail("a rule has one target, but -j/-g is given twice");
                }
                self.spec.target = Some(TargetSpec::load(v, canon == "-g", family)?);
                self.loads.push(Owner::Target);
            }
        }
        Ok(())
    }

    fn unknown_option(&self, word: &str, name: &str) -> RuleParseError {
        let family = self.spec.family;
        let all = all_extension_options(family);
        let mut owners: Vec<&str> = all
            .iter()
            .filter(|(_, d)| d.name == name)
            .map(|(o, _)| o.as_str())
            .collect();
        if owners.is_empty() {
            owners = all
                .iter()
                .filter(|(_, d)| d.name.starts_with(name))
                .map(|(o, _)| o.as_str())
                .collect();
        }
        owners.dedup();
        if owners.is_empty() {
            let known = BASE_OPTIONS
                .iter()
                .map(|d| d.name)
                .chain(all.iter().map(|(_, d)| d.name));
            let hint = match closest(name, known) {
                Some(c) => format!("; did you mean {c}?"),
                None => String::new(),
            };
            return RuleParseError::new(format!("unknown option \"{word}\"{hint}"));
        }
        let has_proto = match (self.spec.protocol, self.extension_protocol()) {
            (None, _) => String::new(),
            (Some(_), (0, _)) => format!(" (this rule has -p {})", self.protocol_written),
            (Some(_), (p, _)) => {
                format!(" (this rule has -p {})", super::names::protocol_name(p))
            }
        };
        let ports = ["match tcp", "match udp", "match sctp", "match dccp"];
        let protos: Vec<&str> = owners
            .iter()
            .filter(|o| ports.contains(o))
            .map(|o| o.trim_start_matches("match "))
            .collect();
        if !protos.is_empty()
            && owners
                .iter()
                .all(|o| ports.contains(o) || *o == "match multiport")
        {
            let list: Vec<String> = protos.iter().map(|p| format!("-p {p}")).collect();
            return RuleParseError::new(format!(
                "{name} needs {} before it{has_proto}",
                join_or(&list)
            ));
        }
        if owners == ["match icmp"] {
            return RuleParseError::new(format!("{name} needs -p icmp before it{has_proto}"));
        }
        if owners == ["match icmp6"] {
            return RuleParseError::new(format!("{name} needs -p icmpv6 before it{has_proto}"));
        }
        let matches: Vec<&str> = owners
            .iter()
            .filter_map(|o| o.strip_prefix("match "))
            .collect();
        if !matches.is_empty() {
            let loads: Vec<String> = matches.iter().map(|m| format!("`-m {m}`")).collect();
            let names: Vec<String> = matches.iter().map(|m| m.to_string()).collect();
            return RuleParseError::new(format!(
                "{name} is an option of the {} match, which is not loaded: put {} before it",
                join_or(&names),
                join_or(&loads)
            ));
        }
        let targets: Vec<String> = owners
            .iter()
            .filter_map(|o| o.strip_prefix("target "))
            .map(String::from)
            .collect();
        let current = match &self.spec.target {
            Some(t) => format!(" (this rule's target is {})", t.name()),
            None => String::new(),
        };
        let jumps: Vec<String> = targets.iter().map(|t| format!("`-j {t}`")).collect();
        RuleParseError::new(format!(
            "{name} is an option of the {} target: it must come after {}{current}",
            join_or(&targets),
            join_or(&jumps)
        ))
    }

    fn unexpected_word(&self, word: &str) -> RuleParseError {
        let mut msg = format!("unexpected word \"{word}\"");
        let proto = self.spec.protocol.map(|(p, _)| p);
        if let Some((opt, arity)) = &self.last_option {
            if *arity > 0 {
                let takes = if *arity == 1 {
                    "one value".to_string()
                } else {
                    format!("{arity} values")
                };
                msg.push_str(&format!(" after {opt} and its value ({opt} takes {takes})"));
            }
        }
        let transport = proto.and_then(super::matches::ports::Transport::from_number);
        if let Some(t) = transport {
            if parse_port_range(word, t.name(), "port").is_ok() {
                msg.push_str(&format!("; did you mean `--dport {word}`?"));
                return RuleParseError::new(msg);
            }
        } else if word.chars().all(|c| c.is_ascii_digit() || c == ':') {
            msg.push_str(&format!(
                "; a port needs -p tcp or -p udp and --dport, as in `-p tcp --dport {word}`"
            ));
            return RuleParseError::new(msg);
        }
        if super::targets::SUPPORTED.contains(&word) {
            msg.push_str(&format!("; did you mean `-j {word}`?"));
        } else if super::matches::SUPPORTED.contains(&word) {
            msg.push_str(&format!("; did you mean `-m {word}`?"));
        } else {
            msg.push_str(" (every value must follow the option it belongs to)");
        }
        RuleParseError::new(msg)
    }

    /// The protocol and its negation as matches and targets see it: none
    /// for a name whose number is above 255 (`-p mptcp`), whose low 8 bits
    /// the rule matches but which is no protocol of theirs.
    fn extension_protocol(&self) -> (u8, bool) {
        match self.spec.protocol {
            Some(_) if super::names::is_wide_protocol(self.protocol_written) => (0, false),
            p => p.unwrap_or((0, false)),
        }
    }

    fn finish(&mut self) -> Res<()> {
        let cx = Cx {
            family: self.spec.family,
            proto: self.extension_protocol(),
        };
        for m in &mut self.spec.matches {
            m.finish(&cx)?;
        }
        merge_port_matches(&mut self.spec.matches);
        if let Some(t) = &mut self.spec.target {
            t.finish(&cx)?;
        }
        Ok(())
    }
}

/// `a`, `a or b`, `a, b or c`.
fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_taking_two_values_are_listed_and_none_takes_more() {
        let all = || SHORT_OPTIONS.iter().chain(every_option());
        assert!(all().all(|d| d.words() <= 2));
        let mut two: Vec<&str> = all().filter(|d| d.words() == 2).map(|d| d.name).collect();
        two.sort_unstable();
        two.dedup();
        assert_eq!(two, TWO_VALUE_OPTIONS);
    }

    #[test]
    fn values_are_counted_where_a_value_could_be_read_as_an_option() {
        // A value starting with `-` is counted as the option's.
        assert_eq!(values_taken("--comment", &["-A", "x"]), 1);
        assert_eq!(values_taken("--tcp-flags", &["SYN", "-x"]), 2);
        assert_eq!(values_taken("--tcp-fl", &["SYN", "-x"]), 2);
        assert_eq!(values_taken("--syn", &["-A"]), 0);
        // Words that read the same either way are not looked up.
        assert_eq!(values_taken("--reject-with", &["icmp-port-unreachable"]), 0);
        assert_eq!(values_taken("--dport", &["22", "-j", "ACCEPT"]), 0);
    }
}
