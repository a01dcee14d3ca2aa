//! `iptables` / `ip6tables`: one iptables command, one transaction.

use std::collections::BTreeSet;
use std::process::ExitCode;

use moat_backend::{Backend, RuleSearch, Seen, TablePart};
use moat_iptables::listing::{
    list_counted_chain, list_stored_chains, list_stored_rules, SeenLines,
};
use moat_iptables::rule::RuleSpec;
use moat_iptables::state::StateRule;
use moat_iptables::{
    execute_owned, parse_command_line, Command, Outcome, TableState, ZeroAfter, BAD_RULE,
};
use moat_model::Family;
use moat_model::{validate_rule, Action, Counters, Stage, Table};
use moat_nft::portmap::is_port_forward;
use moat_nft::rule::declares_sets;
use moat_nft::{plan_update, ChangeSet, KernelChain, KernelTable, Op, Position, TableChanges};

use moat_host::guard;
use moat_host::log_route;
use moat_host::set_copies;
use moat_host::settings::warn_for_rule;
use moat_host::stored::{
    read_for_change, read_view, read_whole, stored_chains, Beside, ReadForChange, WIDENINGS, WIDEST,
};

use crate::advice;
use crate::other_tables;
use crate::CommandError;

/// A result of an iptables command's step.
type Result<T> = std::result::Result<T, CommandError>;

/// Exit status for a command-line problem, as iptables uses it.
const EXIT_USAGE: u8 = 2;

/// The iptables release whose command language moat speaks.
const IPTABLES_VERSION: &str = "1.8.9";

/// What `-V` prints: iptables' own first words (scripts such as Docker's
/// read the version and the `nf_tables` mode from them), then moat's.
pub fn version_line(program: &str) -> String {
    format!(
        "{program} v{IPTABLES_VERSION} (nf_tables): moat {}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Prints [`version_line`] for `-V`: the exit status.
pub(crate) fn print_version(program: &str) -> ExitCode {
    crate::stdout::write_or_fail(program, &format!("{}\n", version_line(program)))
}

/// Whether the command line asks for help (`-h` or `--help` as an option,
/// not an option's value), as iptables reads it: the words after it are
/// not read. `Some(true)` when an earlier `-p icmp` or `-m icmp`
/// (ip6tables: `ipv6-icmp`/`icmpv6`, `icmp6`) loaded the icmp match, whose
/// help iptables then adds.
fn help_asked(args: &[String], family: Family) -> Option<bool> {
    let (protocols, module): (&[&str], &str) = match family {
        Family::Ipv4 => (&["icmp"], "icmp"),
        Family::Ipv6 => (&["ipv6-icmp", "icmpv6"], "icmp6"),
    };
    // Most command lines ask for no help: no option table is read then.
    if !args.iter().any(|a| a == "-h" || a == "--help") {
        return None;
    }
    let mut icmp = false;
    let mut i = 0;
    while let Some(word) = args.get(i) {
        let value = args.get(i + 1).map(|v| v.to_ascii_lowercase());
        match word.as_str() {
            "-h" | "--help" => return Some(icmp),
            "-p" | "--protocol" => {
                icmp |= value.is_some_and(|v| protocols.contains(&v.as_str()));
            }
            "-m" | "--match" => icmp |= value.as_deref() == Some(module),
            _ => {}
        }
        i += 1 + moat_iptables::rule::option_arity(word).unwrap_or(0);
    }
    None
}

/// Runs one iptables command line; `program` names the command in messages.
pub fn run(program: &str, args: &[String], family: Family) -> ExitCode {
    if let Some(icmp) = help_asked(args, family) {
        let mut text = format!("{}\n", moat_iptables::help_text(program));
        if icmp {
            text.push_str(&format!(
                "\n{}",
                moat_iptables::icmp_help(family == Family::Ipv6)
            ));
        }
        return crate::stdout::write_or_fail(program, &text);
    }
    if args.iter().any(|a| a == "-V" || a == "--version") {
        return print_version(program);
    }
    let inv = match parse_command_line(args, family) {
        Ok(inv) => inv,
        // Not a usage error: the kernel refuses the rule, or iptables'
        // backend the policy.
        Err(e) if e.problem != moat_iptables::Problem::Parameter => {
            let status = e.problem.exit_status();
            CommandError::from(e).report(program);
            return ExitCode::from(status);
        }
        Err(e) => {
            tell!("{program}: {e}");
            tell!("Try `{program} -h' or '{program} --help' for more information.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    for w in &inv.warnings {
        advice::write(program, None, w);
    }
    if matches!(
        inv.command,
        Command::List { .. } | Command::ListRules { .. }
    ) {
        other_tables::warn_legacy(family, false);
        let backend = moat_backend::default_backend();
        other_tables::note_iptables_nft(program, &backend, family, &[inv.stage]);
    }
    match apply(program, &inv, family) {
        Ok(code) => code,
        Err(e) => {
            e.report(program);
            ExitCode::from(e.exit_status())
        }
    }
}

fn apply(program: &str, inv: &moat_iptables::Invocation, family: Family) -> Result<ExitCode> {
    let backend = moat_backend::default_backend();
    let read_only = matches!(
        inv.command,
        Command::List {
            zero: ZeroAfter::Nothing,
            ..
        } | Command::ListRules {
            zero: ZeroAfter::Nothing,
            ..
        } | Command::Check { .. }
    );
    let _lock = if read_only {
        None
    } else {
        Some(crate::lock::take(inv.wait)?)
    };
    // As iptables-nft: an append's rules are printed before the kernel is
    // asked, the others' once their place in the chain was found.
    let appends = matches!(inv.command, Command::Append { .. });
    if appends {
        echo_append(&backend, inv, family)?;
    }
    let code = run_command(program, &backend, inv, family, read_only)?;
    if !appends && inv.display.verbose && code == ExitCode::SUCCESS {
        crate::stdout::write(&inv.command.verbose_echo())?;
    }
    Ok(code)
}

/// Runs the command through the first path that can answer it: one of the
/// fast paths, or reading the whole table, changing it and applying the
/// difference.
fn run_command(
    program: &str,
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
    read_only: bool,
) -> Result<ExitCode> {
    // A rule that looks up a set there is not: iptables says so before it
    // looks at the chain.
    if let Some(rule) = inv.command.rules().next().filter(|r| r.names_sets()) {
        if let Ok(model) = rule.to_model(family) {
            set_copies::check_sets_exist(&model, family)?;
        }
    }
    if let Some(code) = add_fast(program, backend, inv, family)? {
        return Ok(code);
    }
    if let Some(code) = chains_fast(backend, inv, family)? {
        return Ok(code);
    }
    if let Some(code) = flush_fast(backend, inv, family)? {
        return Ok(code);
    }
    if let Some(code) = delete_chain_fast(backend, inv, family)? {
        return Ok(code);
    }
    if let Some(code) = zero_fast(backend, inv, family)? {
        return Ok(code);
    }
    if let Some(code) = rename_fast(backend, inv, family)? {
        return Ok(code);
    }
    if let Some(code) = delete_fast(backend, inv, family)? {
        return Ok(code);
    }
    if let Some(code) = list_fast(backend, inv, family)? {
        return Ok(code);
    }
    if let Some(code) = check_fast(program, backend, inv, family)? {
        return Ok(code);
    }
    let (kernel, before, outcome) = if read_only {
        let view = read_view(backend, family, inv.stage)?;
        let state = view.unwrap_or_else(|| TableState::empty(family, inv.stage));
        (None, None, execute_owned(inv, state)?)
    } else {
        execute_read(backend, inv, family)?
    };
    let untouched = !read_only && kernel.is_none() && inv.command.keeps_a_missing_table();
    crate::stdout::write(&outcome.output)?;
    if let Some(next) = outcome.changed.filter(|_| !untouched) {
        let table = next.into_table();
        if let Some(before) = before {
            guard::warn_session_cut(program, &[before], std::slice::from_ref(&table));
        }
        // The table is copied only when LOG rules go to moat's packet log.
        let mut batch = match log_route::kept() {
            Some(route) => plan_update(
                kernel.as_ref(),
                &log_route::routed(table.clone(), Some(route)),
            )?,
            None => plan_update(kernel.as_ref(), &table)?,
        };
        set_copies::declare(&mut batch, std::slice::from_ref(&table))?;
        backend.apply(&batch)?;
        warn_for_added(program, inv, &table)?;
    }
    if outcome.check == Some(false) {
        tell!("{program}: {BAD_RULE}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Carries `inv` out on its table read as far as it needs: the chain it
/// touches and its rule's jump targets, asked for by name, when that is
/// enough (see [`read_for_change`]), with the chains
/// its outcome reaches from other hooks read too on another try; else the
/// whole table. Gives the kernel's table as read, the whole table before
/// the command for the SSH guard, and the outcome.
fn execute_read(
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
) -> Result<(Option<KernelTable>, Option<Table>, Outcome)> {
    let session = guard::session_flow().is_some();
    // The chain, and the chains its rule jumps to, which the jump may
    // reach from another hook.
    let mut chains = (inv.command.chain_touched())
        .filter(|_| !session)
        .map(|chain| {
            let targets = inv.command.rules().filter_map(RuleSpec::jump_target);
            let mut chains: BTreeSet<String> = targets.map(str::to_string).collect();
            chains.insert(chain.to_string());
            chains
        });
    let mut widened = 0;
    loop {
        let ReadForChange {
            kernel,
            mut state,
            partial,
        } = match &chains {
            Some(chains) => read_for_change(backend, family, inv.stage, chains, Beside::Nothing)?,
            None => read_whole(backend, family, inv.stage)?,
        };
        // The table before the command, for the guard alone: the command
        // changes the table read without copying it.
        let before = session.then(|| state.to_table());
        // In a table it has not made iptables-nft finds no chain, built-in
        // ones included, for -X, -Z or -E of one, or -D or -R of a rule by
        // its number.
        if kernel.is_none()
            && matches!(
                inv.command,
                Command::DeleteChain { chain: Some(_) }
                    | Command::Zero { chain: Some(_), .. }
                    | Command::RenameChain { .. }
                    | Command::DeleteNum { .. }
                    | Command::Replace { .. }
            )
        {
            state.chains.clear();
        }
        let outcome = execute_owned(inv, state);
        let Some(partial) = partial else {
            return Ok((kernel, before, outcome?));
        };
        let more = match &outcome {
            Ok(done) => (done.changed.as_ref())
                .map_or_else(Vec::new, |next| partial.reached_otherwise(next)),
            // The whole table tells what is wrong.
            Err(_) => {
                chains = None;
                continue;
            }
        };
        if more.is_empty() {
            return Ok((kernel, before, outcome?));
        }
        match chains
            .as_mut()
            .filter(|_| widened < WIDENINGS && more.len() <= WIDEST)
        {
            Some(chains) => {
                widened += 1;
                chains.extend(more);
            }
            None => chains = None,
        }
    }
}

/// With `-v`, prints the lines iptables prints for the rules `-A` adds
/// before it asks the kernel; not for a jump to a missing chain, which
/// iptables refuses before that.
fn echo_append(
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
) -> Result<()> {
    if !inv.display.verbose {
        return Ok(());
    }
    let echo = inv.command.verbose_echo();
    let jump = inv.command.rules().next().and_then(RuleSpec::jump_target);
    if let Some(target) = jump {
        let layout = backend.read_part(family, inv.stage, named_layout(&[target]))?;
        if layout.is_none_or(|table| table.chain(target).is_none()) {
            return Ok(());
        }
    }
    crate::stdout::write(&echo)?;
    Ok(())
}

/// Where `-A`, `-I` or `-R` puts its rule.
#[derive(Clone, Copy)]
enum Place {
    /// At the chain's end (`-A`).
    End,
    /// At this 1-based place, before the rule there (`-I`).
    Before(usize),
    /// Instead of the rule at this 1-based place (`-R`).
    Instead(usize),
}

/// `-A`, `-I` or `-R` of one rule (a jump only to a chain
/// [`jump_is_plain`] accepts): only the new rule needs checking, so moat
/// reads the table's layout instead of every rule, reads the chain only as
/// far as the place `-I N` or `-R N` names, and sends one rule. A built-in
/// chain's hook is known; a rule for a user chain must work from every hook
/// of the table (else the full path finds the hooks that reach the chain).
/// `None` when the command needs the full path.
fn add_fast(
    program: &str,
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
) -> Result<Option<ExitCode>> {
    let (chain, rule, place) = match &inv.command {
        Command::Append { chain, rule, also } if also.is_empty() => (chain, rule, Place::End),
        Command::Insert {
            chain,
            num,
            rule,
            also,
        } if also.is_empty() => (chain, rule, Place::Before(*num)),
        // The rule replaced may be what keeps the SSH session open: the
        // guard compares whole tables.
        Command::Replace { chain, num, rule } if guard::session_flow().is_none() => {
            (chain, rule, Place::Instead(*num))
        }
        _ => return Ok(None),
    };
    // A DROP in nat is refused by the full path.
    // A raw table may have a copy after conntrack that changes with it.
    if rule.drops() && inv.stage == Stage::Nat || inv.stage == Stage::Raw {
        return Ok(None);
    }
    let named: Vec<&str> = [chain.as_str()]
        .into_iter()
        .chain(rule.jump_target())
        .collect();
    let Some(layout) = backend.read_part(family, inv.stage, named_layout(&named))? else {
        return Ok(None);
    };
    let Some(base) = layout.chain(chain).map(|c| c.base.map(|(hook, _)| hook)) else {
        return Ok(None);
    };
    if let Some(target) = rule.jump_target() {
        if !jump_is_plain(backend, inv, family, &layout, chain, target)? {
            return Ok(None);
        }
    }
    // NAT in a user chain rewrites one side or the other by the hooks that
    // reach it (NETMAP).
    if base.is_none() && inv.stage == Stage::Nat {
        return Ok(None);
    }
    let mut new = StateRule::new(rule.clone(), family, inv.counters.unwrap_or_default())?;
    if inv.stage == Stage::Nat && is_port_forward(&new.rule)
        || declares_sets(&new.rule)
        || may_cut_session(&new.rule)
    {
        // It may join a port map, fill a set the table may hold already,
        // or cut the SSH session: the full path reads the whole table.
        return Ok(None);
    }
    let placed = match base {
        Some(hook) => {
            new.rule.action.place(&[hook]);
            validate_rule(&new.rule, family, inv.stage, &[hook], true)
        }
        None => {
            if validate_rule(&new.rule, family, inv.stage, inv.stage.hooks(), false).is_err() {
                return Ok(None);
            }
            Ok(())
        }
    };
    // iptables refuses on its command line first, then finds a bad
    // position, and only then would the kernel refuse the rule.
    if let Err(e) = &placed {
        if !e.found_by_kernel() {
            return Err(e.clone().into());
        }
    }
    log_route::route_added(family, inv.stage, chain, &mut new.rule, log_route::kept());
    let Some(slot) = slot(backend, inv, family, chain, place)? else {
        return Ok(None);
    };
    placed?;
    let rule = new.rule.clone();
    let op = match slot {
        Slot::Add { index, position } => Op::AddRule {
            chain: chain.clone(),
            index,
            rule,
            position,
        },
        Slot::Replace { index, handle } => Op::ReplaceRule {
            chain: chain.clone(),
            index,
            handle,
            rule,
        },
    };
    let mut table = TableChanges {
        family,
        stage: inv.stage,
        ops: vec![op],
        existing_sets: Vec::new(),
        after_conntrack: layout.after_conntrack,
        conntrack_copy: false,
    };
    // After the rule: an ipset's rule is given its match here.
    set_copies::declare_for(&mut table, [&new.rule])?;
    backend.apply(&ChangeSet {
        tables: vec![table],
    })?;
    if advice::wanted() {
        warn_for_rule(program, family, chain, base, &new.rule);
    }
    Ok(Some(ExitCode::SUCCESS))
}

/// The most rules of a jump's target chain moat reads to check them
/// without the full path (a chain fail2ban or Docker just made holds one).
const PLAIN_TARGET_RULES: usize = 16;

/// Whether a jump from `chain` to `target` may be added without the full
/// path: outside nat (where the hooks reaching a chain settle its NETMAP
/// rules) and an SSH session, to a user chain of the layout other than
/// `chain`, whose few rules jump nowhere (no loop, no chains further on)
/// and work from every hook of the table, whichever hooks the jump adds.
fn jump_is_plain(
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
    layout: &KernelTable,
    chain: &str,
    target: &str,
) -> Result<bool> {
    let user_chain = layout.chain(target).is_some_and(|c| c.base.is_none());
    if inv.stage == Stage::Nat || guard::session_flow().is_some() || target == chain || !user_chain
    {
        return Ok(false);
    }
    let mut plain = true;
    let mut check = |position: usize, source: &str| {
        plain = position <= PLAIN_TARGET_RULES
            && StateRule::from_source(source, family, Counters::default()).is_ok_and(|r| {
                r.rule.chain_target().is_none()
                    && validate_rule(&r.rule, family, inv.stage, inv.stage.hooks(), false).is_ok()
            });
        !plain
    };
    let read = backend.find_rule(family, inv.stage, target, &mut check)?;
    Ok(plain && matches!(read, RuleSearch::Absent))
}

/// Where in the kernel's chain a rule goes.
enum Slot {
    /// A new rule: its 1-based place (0 at the end) and position.
    Add { index: usize, position: Position },
    /// Instead of the rule with `handle`, at 1-based place `index`.
    Replace { index: usize, handle: u32 },
}

/// The slot of `place` in `chain`, reading the chain only as far as that
/// place; `None` when the read cannot tell (no rule there, a port map's
/// rule on the way, a replaced rule that fills a set): the full path
/// answers, with iptables' message for an index too big.
fn slot(
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
    chain: &str,
    place: Place,
) -> Result<Option<Slot>> {
    let index = match place {
        Place::End => {
            return Ok(Some(Slot::Add {
                index: 0,
                position: Position::Append,
            }))
        }
        Place::Before(1) => {
            return Ok(Some(Slot::Add {
                index: 1,
                position: Position::First,
            }))
        }
        Place::Before(n) | Place::Instead(n) => n,
    };
    let mut at = |p: usize, _: &str| p == index;
    let RuleSearch::Found(found) = backend.find_rule(family, inv.stage, chain, &mut at)? else {
        return Ok(None);
    };
    if let Place::Instead(_) = place {
        let Ok(old) = StateRule::from_source(&found.source, family, Counters::default()) else {
            return Ok(None);
        };
        if declares_sets(&old.rule) {
            return Ok(None);
        }
        return Ok(Some(Slot::Replace {
            index,
            handle: found.handle,
        }));
    }
    Ok(Some(Slot::Add {
        index,
        position: Position::Before(found.handle),
    }))
}

/// `-N CHAIN` and `-P CHAIN POLICY`, which change chains and look at no
/// rule: moat runs them on the table's layout and sends the difference.
/// `None` when the command needs the full path: another command, no table
/// yet, a policy in an SSH session (the guard compares whole tables) or in
/// the raw table (whose copy after conntrack changes with it).
fn chains_fast(
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
) -> Result<Option<ExitCode>> {
    match inv.command {
        Command::NewChain { .. } => {}
        Command::SetPolicy { .. } if inv.stage != Stage::Raw && guard::session_flow().is_none() => {
        }
        _ => return Ok(None),
    }
    let Some((layout, outcome)) = on_layout(backend, inv, family)? else {
        return Ok(None);
    };
    if let Some(next) = outcome.changed {
        backend.apply(&plan_update(Some(&layout), &next.into_table())?)?;
    }
    Ok(Some(ExitCode::SUCCESS))
}

/// `-F [CHAIN]` outside the nat and raw tables and an SSH session: moat
/// reads each chain's rule texts only to see that none fills or looks up a
/// set (whose upkeep is the full path's), then flushes the chains. `None`
/// when the command needs the full path.
fn flush_fast(
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
) -> Result<Option<ExitCode>> {
    let Command::Flush { chain } = &inv.command else {
        return Ok(None);
    };
    if matches!(inv.stage, Stage::Nat | Stage::Raw) || guard::session_flow().is_some() {
        return Ok(None);
    }
    let Some((layout, outcome)) = on_layout(backend, inv, family)? else {
        return Ok(None);
    };
    let names: Vec<String> = match chain {
        Some(name) => vec![name.clone()],
        None => layout.chains.into_iter().map(|c| c.name).collect(),
    };
    for name in &names {
        let mut names_a_set = |_: usize, source: &str| may_use_a_set(source);
        if !matches!(
            backend.find_rule(family, inv.stage, name, &mut names_a_set)?,
            RuleSearch::Absent
        ) {
            return Ok(None);
        }
    }
    let ops = names
        .into_iter()
        .map(|name| Op::FlushChain { name })
        .collect();
    backend.apply(&one_table(inv, family, ops))?;
    crate::stdout::write(&outcome.output)?;
    Ok(Some(ExitCode::SUCCESS))
}

/// `-X CHAIN` of an empty chain outside the raw table: moat reads the
/// chain only as far as its first rule and deletes it; when the kernel
/// refuses (a rule jumps to it) the full path says why, as it does for a
/// chain with rules. `None` when the command needs the full path.
fn delete_chain_fast(
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
) -> Result<Option<ExitCode>> {
    let Command::DeleteChain { chain: Some(chain) } = &inv.command else {
        return Ok(None);
    };
    if inv.stage == Stage::Raw {
        return Ok(None);
    }
    let Some((_, outcome)) = on_layout(backend, inv, family)? else {
        return Ok(None);
    };
    let mut any = |_: usize, _: &str| true;
    if !matches!(
        backend.find_rule(family, inv.stage, chain, &mut any)?,
        RuleSearch::Absent
    ) {
        return Ok(None);
    }
    let ops = vec![Op::DeleteChain {
        name: chain.clone(),
    }];
    match backend.apply(&one_table(inv, family, ops)) {
        Ok(()) => {}
        Err(moat_backend::BackendError::Refused(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    crate::stdout::write(&outcome.output)?;
    Ok(Some(ExitCode::SUCCESS))
}

/// `-Z [CHAIN]` outside the nat table (whose port maps keep their rules'
/// counters in map elements) and the raw table (whose chains have a copy
/// after conntrack): the kernel zeroes the chains' counters as it lists
/// them, and moat reads none of it. `None` when the command needs the full
/// path (which also zeroes one rule, `-Z CHAIN NUM`).
fn zero_fast(
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
) -> Result<Option<ExitCode>> {
    let Command::Zero { chain, num: None } = &inv.command else {
        return Ok(None);
    };
    if matches!(inv.stage, Stage::Nat | Stage::Raw) {
        return Ok(None);
    }
    let Some((_, outcome)) = on_layout(backend, inv, family)? else {
        return Ok(None);
    };
    if !backend.zero_counters(family, inv.stage, chain.as_deref())? {
        return Ok(None);
    }
    crate::stdout::write(&outcome.output)?;
    Ok(Some(ExitCode::SUCCESS))
}

/// `-E OLD NEW` of a chain no rule jumps to and that holds no LOG rule
/// (whose route to moat's packet log names its chain), outside the nat and
/// raw tables: the kernel renames the chain and no stored text changes.
/// `None` when the command needs the full path, which rewrites the texts
/// of the rules that jump to it.
fn rename_fast(
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
) -> Result<Option<ExitCode>> {
    let Command::RenameChain { from, to } = &inv.command else {
        return Ok(None);
    };
    if matches!(inv.stage, Stage::Nat | Stage::Raw) {
        return Ok(None);
    }
    let Some((_, outcome)) = on_layout(backend, inv, family)? else {
        return Ok(None);
    };
    let mut logs = |_: usize, source: &str| source.contains("-j LOG");
    if !matches!(
        backend.find_rule(family, inv.stage, from, &mut logs)?,
        RuleSearch::Absent
    ) {
        return Ok(None);
    }
    if !backend.rename_unused_chain(family, inv.stage, from, to)? {
        return Ok(None);
    }
    crate::stdout::write(&outcome.output)?;
    Ok(Some(ExitCode::SUCCESS))
}

/// Runs `inv` on the table's layout (its chains, without their rules):
/// for commands that look at no rule, the engine's checks, messages and
/// changed chains. `None` when moat has no such table yet.
fn on_layout(
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
) -> Result<Option<(KernelTable, moat_iptables::Outcome)>> {
    // The chains the command names, when it names them all: those are
    // asked for alone. An error is told from the whole layout, whose
    // chains give the likely misspelt name.
    if let Some(names) = chains_named(&inv.command) {
        if let Some(layout) = backend.read_part(family, inv.stage, named_layout(&names))? {
            let state = TableState::from_stored(family, inv.stage, stored_chains(layout.clone()))?;
            if let Ok(outcome) = execute_owned(inv, state) {
                return Ok(Some((layout, outcome)));
            }
        }
    }
    let Some(layout) = backend.read_layout(family, inv.stage)? else {
        return Ok(None);
    };
    let state = TableState::from_stored(family, inv.stage, stored_chains(layout.clone()))?;
    let outcome = execute_owned(inv, state)?;
    Ok(Some((layout, outcome)))
}

/// Every chain a command that looks at no rule acts on, when it names
/// them all (not `-F`, `-X` or `-Z` of every chain).
fn chains_named(command: &Command) -> Option<Vec<&str>> {
    match command {
        Command::RenameChain { from, to } => Some(vec![from, to]),
        Command::Flush { chain: None }
        | Command::DeleteChain { chain: None }
        | Command::Zero { chain: None, .. } => None,
        _ => command.chain_touched().map(|chain| vec![chain]),
    }
}

/// The built-in chains and `chains`, asked for by name, without rules: the
/// layout a command about those chains needs.
fn named_layout<'a>(chains: &'a [&'a str]) -> TablePart<'a> {
    TablePart::Named {
        chains,
        rules: false,
    }
}

/// The built-in chains and `chains`, asked for by name, with their rules.
fn named_rules<'a>(chains: &'a [&'a str]) -> TablePart<'a> {
    TablePart::Named {
        chains,
        rules: true,
    }
}

/// Whether a stored rule text may fill a dynamic set or look one up
/// (`-m connlimit`, `-m hashlimit`, `-m set`, `-j SET`): removing such a
/// rule may take a set with it, which the full path works out.
fn may_use_a_set(source: &str) -> bool {
    ["-m connlimit", "-m hashlimit", "-m set", "-j SET"]
        .iter()
        .any(|word| source.contains(word))
}

/// A change of `ops` on the command's table, whose base chains stay.
fn one_table(inv: &moat_iptables::Invocation, family: Family, ops: Vec<Op>) -> ChangeSet {
    ChangeSet {
        tables: vec![TableChanges {
            family,
            stage: inv.stage,
            ops,
            existing_sets: Vec::new(),
            // No base chain changes.
            after_conntrack: false,
            conntrack_copy: false,
        }],
    }
}

/// `-D CHAIN N` or `-D CHAIN rule`: moat reads the chain only as far as the
/// rule and deletes it by its handle. `None` when the command needs the
/// full path: in the nat table (a deletion may join port forwards into one
/// port map), for a rule that fills a set (the set may have to go too),
/// in an SSH session (the guard compares whole tables), or whenever the
/// partial read cannot tell (no such rule, a port map's rule on the way).
fn delete_fast(
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
) -> Result<Option<ExitCode>> {
    let (chain, wanted_text, wanted_number) = match &inv.command {
        Command::DeleteNum { chain, num } => (chain, None, Some(*num)),
        Command::DeleteRule { chain, rule, also } if also.is_empty() => {
            (chain, Some(rule.to_args()), None)
        }
        _ => return Ok(None),
    };
    // A raw table may have a copy after conntrack that changes with it.
    if matches!(inv.stage, Stage::Nat | Stage::Raw) || guard::session_flow().is_some() {
        return Ok(None);
    }
    let mut wanted = |position: usize, source: &str| {
        wanted_number == Some(position) || wanted_text.as_deref() == Some(source)
    };
    let RuleSearch::Found(found) = backend.find_rule(family, inv.stage, chain, &mut wanted)? else {
        return Ok(None);
    };
    // A source that does not read is the full path's to report.
    let Ok(stored) = StateRule::from_source(&found.source, family, Counters::default()) else {
        return Ok(None);
    };
    if declares_sets(&stored.rule) {
        return Ok(None);
    }
    let ops = vec![Op::DeleteRule {
        chain: chain.clone(),
        handle: found.handle,
    }];
    backend.apply(&one_table(inv, family, ops))?;
    Ok(Some(ExitCode::SUCCESS))
}

/// `-C CHAIN rule` (what Docker asks before every rule it adds): moat reads
/// the chain only as far as the rule, or to its end when the rule is not
/// there. `None` when the partial read cannot tell (no such chain, a port
/// map's rule on the way): the full path answers.
fn check_fast(
    program: &str,
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
) -> Result<Option<ExitCode>> {
    let Command::Check { chain, rule, also } = &inv.command else {
        return Ok(None);
    };
    // Several rules, or a DROP iptables refuses in the nat table: the full
    // path answers.
    if !also.is_empty() || (rule.drops() && inv.stage == Stage::Nat) {
        return Ok(None);
    }
    let wanted = rule.to_args();
    let mut same = |_: usize, source: &str| source == wanted;
    match backend.find_rule(family, inv.stage, chain, &mut same)? {
        RuleSearch::Found(_) => Ok(Some(ExitCode::SUCCESS)),
        // A jump to a chain that may not exist: the layout tells, and the
        // full path says which is missing.
        RuleSearch::Absent if rule.jump_target().is_some() => {
            let target = rule.jump_target().unwrap_or_default();
            let layout = backend.read_part(family, inv.stage, named_layout(&[target]))?;
            if layout.is_none_or(|table| table.chain(target).is_none()) {
                return Ok(None);
            }
            tell!("{program}: {BAD_RULE}");
            Ok(Some(ExitCode::FAILURE))
        }
        RuleSearch::Absent => {
            tell!("{program}: {BAD_RULE}");
            Ok(Some(ExitCode::FAILURE))
        }
        RuleSearch::Unknown => Ok(None),
    }
}

/// `-L CHAIN` from the table's layout and that chain's rules, with the
/// references to the chain as the kernel counts them; `None` when that
/// read cannot tell (no such chain, a driver that reads whole tables) and
/// the whole listing answers.
fn list_counted(
    backend: &dyn Backend,
    family: Family,
    stage: Stage,
    chain: &str,
    num: Option<usize>,
    display: moat_iptables::Display,
) -> Result<Option<String>> {
    let Some(kernel) = backend.read_part(family, stage, named_rules(&[chain]))? else {
        return Ok(None);
    };
    let Some(references) = kernel.chain(chain).and_then(KernelChain::references) else {
        return Ok(None);
    };
    let stored = stored_chains(kernel);
    let references = references as usize;
    Ok(list_counted_chain(
        family, stage, &stored, chain, num, display, references,
    ))
}

/// `-S` and `-L` (without `-Z`) straight from the kernel's stored rule
/// texts: `-S` prints them as they are, `-L` reads each back only as far
/// as its line, while the kernel still sends the rest, and neither builds
/// the iptables view of the table. `None` when the full path must answer
/// (no table yet, no such chain, a rule without stored source).
fn list_fast(
    backend: &dyn Backend,
    inv: &moat_iptables::Invocation,
    family: Family,
) -> Result<Option<ExitCode>> {
    let (stage, display) = (inv.stage, inv.display);
    // One chain, with the references the kernel counts to it: a Kubernetes
    // canary's check that its chain is there, beside thousands of chains.
    if let Command::List {
        chain: Some(one),
        num,
        zero: ZeroAfter::Nothing,
    } = &inv.command
    {
        if let Some(text) = list_counted(backend, family, stage, one, *num, display)? {
            crate::stdout::write(&text)?;
            return Ok(Some(ExitCode::SUCCESS));
        }
    }
    let listing = match &inv.command {
        Command::ListRules {
            chain,
            num,
            zero: ZeroAfter::Nothing,
        } => match chain {
            // One chain's rules are all `-S CHAIN` prints.
            Some(one) => backend.read_part(family, stage, named_rules(&[one]))?,
            None => backend.read(family, stage)?,
        }
        .and_then(|kernel| {
            let stored = stored_chains(kernel);
            list_stored_rules(family, stage, &stored, chain.as_deref(), *num, display)
        }),
        Command::List {
            chain,
            num,
            zero: ZeroAfter::Nothing,
        } => {
            let mut seen = SeenLines::new(family, display);
            let kernel = backend.read_seeing(family, stage, &mut |rule| match rule {
                Seen::Restart => seen.forget(),
                Seen::Rule {
                    chain,
                    text,
                    counters,
                } => seen.see(chain, text, counters),
            })?;
            kernel.and_then(|kernel| {
                let stored = stored_chains(kernel);
                list_stored_chains(stage, &stored, chain.as_deref(), *num, seen)
            })
        }
        _ => return Ok(None),
    };
    match listing {
        Some(text) => {
            crate::stdout::write(&text)?;
            Ok(Some(ExitCode::SUCCESS))
        }
        None => Ok(None),
    }
}

/// Whether adding `rule` may cut the SSH session moat runs in: it drops or
/// rejects, there is a session, and the rule may match its packets.
fn may_cut_session(rule: &moat_model::Rule) -> bool {
    matches!(rule.action, Action::Drop | Action::Reject(_))
        && guard::session_flow().is_some_and(|flow| !guard::spares(&flow, rule))
}

/// The chain and rule `command` adds, if it adds one.
fn added_rule(command: &Command) -> Option<(&str, &RuleSpec)> {
    match command {
        Command::Append { chain, rule, .. }
        | Command::Insert { chain, rule, .. }
        | Command::Replace { chain, rule, .. } => Some((chain, rule)),
        _ => None,
    }
}

/// Warns about the kernel settings the rule `inv` adds needs, when advice
/// is wanted; other commands (deleting, flushing, policies, zeroing) add
/// nothing to warn about.
fn warn_for_added(program: &str, inv: &moat_iptables::Invocation, table: &Table) -> Result<()> {
    let Some((chain, spec)) = added_rule(&inv.command).filter(|_| advice::wanted()) else {
        return Ok(());
    };
    let hook = table.chain(chain).and_then(|c| c.base).map(|(h, _)| h);
    let rule = StateRule::new(spec.clone(), table.family, Counters::default())?.rule;
    warn_for_rule(program, table.family, chain, hook, &rule);
    Ok(())
}
