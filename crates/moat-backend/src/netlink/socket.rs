//! [`NfSocket`]: a netfilter netlink socket that commits transactions and
//! reads sets, rules and set elements back.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use super::batch::Transaction;
use super::consts::*;
use super::types::{elements_to_ranges, ExprInfo, IntervalKey, NfProto, RuleInfo, SetInfo};
use super::wire::{
    attrs, be_u32, be_u64, find, messages, parse_error, string, Received, Udata, Writer,
    NFGENMSG_LEN,
};
use super::NetlinkError;

/// How long to wait for the kernel's answer before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Receive buffer size asked for; error replies to a large batch must fit.
const RCVBUF: usize = 8 << 20;
/// Bytes read per `recv`; dump messages are at most a few pages.
const RECV_CHUNK: usize = 256 << 10;
/// How often a dump is restarted when the ruleset changes during it.
const DUMP_RETRIES: usize = 5;

/// A netlink socket to nf_tables in the calling thread's network namespace.
pub struct NfSocket {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for NfSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NfSocket")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

fn io_err(context: &'static str) -> impl FnOnce(io::Error) -> NetlinkError {
    move |error| NetlinkError::Io { context, error }
}

fn setsockopt_int(fd: i32, level: i32, name: i32, value: usize) -> io::Result<()> {
    let value = value.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: passes a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets a buffer size, forcing past the system limit when privileged.
fn set_buffer(fd: i32, force: i32, normal: i32, size: usize) {
    if setsockopt_int(fd, libc::SOL_SOCKET, force, size).is_err() {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, normal, size);
    }
}

fn set_timeout(fd: i32, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: passes a pointer to a live timeval and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn nft_type(msg: u8) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | msg as u16
}

fn is_nft(ty: u16, msg: u8) -> bool {
    ty == nft_type(msg)
}

impl NfSocket {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, NetlinkError> {
        let mut sock =
            Socket::new(NETLINK_NETFILTER).map_err(io_err("opening a netfilter netlink socket"))?;
        sock.bind_auto()
            .map_err(io_err("binding the netlink socket"))?;
        // Error replies carry only the failed request's header, and the
        // kernel's explanation when it gives one.
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_ext_ack(true);
        let fd = sock.as_raw_fd();
        set_buffer(fd, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, RCVBUF);
        set_timeout(fd, REPLY_TIMEOUT).map_err(io_err("setting the netlink receive timeout"))?;
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1)
            | 0x8000_0000;
        Ok(NfSocket {
            sock,
            seq,
            buf: vec![0; RECV_CHUNK],
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1) | 0x8000_0000;
        self.seq
    }

    fn recv(&mut self, nonblocking: bool) -> Result<Option<usize>, NetlinkError> {
        let flags = if nonblocking { libc::MSG_DONTWAIT } else { 0 };
        loop {
            match self.sock.recv(&mut &mut self.buf[..], flags) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && nonblocking => return Ok(None),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Err(NetlinkError::Timeout)
                }
                Err(e) => {
                    return Err(NetlinkError::Io {
                        context: "reading the kernel's reply",
                        error: e,
                    })
                }
            }
        }
    }

    /// The ruleset's generation number, which every committed change bumps.
    pub fn generation(&mut self) -> Result<u32, NetlinkError> {
        let seq = self.next_seq();
        let mut w = Writer::default();
        let m = w.begin_msg(
            nft_type(NFT_MSG_GETGEN),
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            0,
            0,
        );
        w.end_msg(m);
        self.send(&w.buf)?;
        let mut genid = None;
        self.replies(seq, |msg| {
            if is_nft(msg.ty, NFT_MSG_NEWGEN) {
                let list = attrs(msg.payload.get(NFGENMSG_LEN..).unwrap_or_default())?;
                genid = find(&list, NFTA_GEN_ID).and_then(be_u32);
            }
            Ok(())
        })?;
        genid
            .ok_or_else(|| NetlinkError::Malformed("no generation id in the kernel's reply".into()))
    }

    fn send(&mut self, buf: &[u8]) -> Result<(), NetlinkError> {
        let kernel = SocketAddr::new(0, 0);
        match self.sock.send_to(buf, &kernel, 0) {
            Ok(_) => Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EMSGSIZE)
                    || e.raw_os_error() == Some(libc::ENOBUFS) =>
            {
                Err(NetlinkError::TooLarge {
                    bytes: buf.len(),
                    error: e,
                })
            }
            Err(e) => Err(NetlinkError::Io {
                context: "sending to the kernel",
                error: e,
            }),
        }
    }

    /// Reads replies to request `seq` until its acknowledgement, error or
    /// end of dump, handing every other message to `each`.
    fn replies(
        &mut self,
        seq: u32,
        mut each: impl FnMut(&Received<'_>) -> Result<(), NetlinkError>,
    ) -> Result<(), NetlinkError> {
        loop {
            let n = self.recv(false)?.unwrap_or(0);
            let data = self.buf[..n].to_vec();
            for msg in messages(&data)? {
                if msg.seq != seq {
                    continue;
                }
                if msg.flags & NLM_F_DUMP_INTR != 0 {
                    return Err(NetlinkError::Changed);
                }
                match msg.ty {
                    NLMSG_ERROR => {
                        let (code, _, text) = parse_error(&msg)?;
                        if code == 0 {
                            return Ok(());
                        }
                        return Err(NetlinkError::Refused {
                            what: String::new(),
                            errno: -code,
                            detail: text,
                        });
                    }
                    NLMSG_DONE => {
                        let code = msg
                            .payload
                            .get(..4)
                            .and_then(|b| b.try_into().ok())
                            .map(i32::from_ne_bytes)
                            .unwrap_or(0);
                        if code < 0 {
                            return Err(NetlinkError::Refused {
                                what: String::new(),
                                errno: -code,
                                detail: None,
                            });
                        }
                        return Ok(());
                    }
                    _ => each(&msg)?,
                }
            }
        }
    }

    /// Applies `tx` as one transaction: on success all of it is in the
    /// kernel; on error none of it, and the error names the refused change.
    pub fn commit(&mut self, mut tx: Transaction) -> Result<(), NetlinkError> {
        if tx.is_empty() {
            return Ok(());
        }
        let (buf, last_seq) = tx.finish();
        let fd = self.sock.as_raw_fd();
        set_buffer(
            fd,
            libc::SO_SNDBUFFORCE,
            libc::SO_SNDBUF,
            buf.len() + (64 << 10),
        );
        self.send(&buf)?;
        drop(buf);
        // The kernel handles the batch inside sendmsg: its replies are all
        // queued by now. Read until the last message's acknowledgement or an
        // error, then whatever else is waiting.
        let mut errors: Vec<(i32, u32, Option<String>)> = Vec::new();
        let mut finished = false;
        let mut blocking_reads = 0;
        loop {
            let got = if finished {
                self.recv(true)?
            } else {
                blocking_reads += 1;
                self.recv(blocking_reads > 1 && !errors.is_empty())?
            };
            let Some(n) = got else { break };
            let data = self.buf[..n].to_vec();
            for msg in messages(&data)? {
                if msg.ty != NLMSG_ERROR {
                    continue;
                }
                let (code, seq, text) = parse_error(&msg)?;
                if code != 0 {
                    errors.push((-code, seq, text));
                }
                if Some(seq) == last_seq || seq == tx.begin_seq {
                    finished = true;
                }
            }
        }
        let Some((errno, seq, detail)) = errors.into_iter().next() else {
            return Ok(());
        };
        if errno == libc::ERESTART && seq == tx.begin_seq {
            return Err(NetlinkError::Changed);
        }
        let what = tx
            .ops
            .iter()
            .find(|op| op.seq == seq)
            .map(|op| op.what.clone())
            .unwrap_or_else(|| "committing the transaction".to_string());
        Err(NetlinkError::Refused {
            what,
            errno,
            detail,
        })
    }

    fn dump(
        &mut self,
        msg: u8,
        family: NfProto,
        build: impl Fn(&mut Writer),
        mut each: impl FnMut(&[(u16, &[u8])]) -> Result<(), NetlinkError>,
    ) -> Result<(), NetlinkError> {
        let seq = self.next_seq();
        let mut w = Writer::default();
        let m = w.begin_msg(
            nft_type(msg),
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            family.number(),
            0,
        );
        build(&mut w);
        w.end_msg(m);
        self.send(&w.buf)?;
        self.replies(seq, |reply| {
            let list = attrs(reply.payload.get(NFGENMSG_LEN..).unwrap_or_default())?;
            each(&list)
        })
    }

    fn retry<T>(mut f: impl FnMut() -> Result<T, NetlinkError>) -> Result<T, NetlinkError> {
        let mut tries = 0;
        loop {
            match f() {
                Err(NetlinkError::Changed) if tries < DUMP_RETRIES => tries += 1,
                other => return other,
            }
        }
    }

    /// The sets of table `table`; `None` when the table does not exist.
    pub fn sets(
        &mut self,
        family: NfProto,
        table: &str,
    ) -> Result<Option<Vec<SetInfo>>, NetlinkError> {
        let result = Self::retry(|| {
            let mut out = Vec::new();
            self.dump(
                NFT_MSG_GETSET,
                family,
                |w| w.attr_str(NFTA_SET_TABLE, table),
                |a| {
                    let name = find(a, NFTA_SET_NAME).map(string).unwrap_or_default();
                    let set_table = find(a, NFTA_SET_TABLE).map(string).unwrap_or_default();
                    if set_table == table {
                        out.push(SetInfo {
                            table: set_table,
                            name,
                            flags: find(a, NFTA_SET_FLAGS).and_then(be_u32).unwrap_or(0),
                            key_type: find(a, NFTA_SET_KEY_TYPE).and_then(be_u32).unwrap_or(0),
                            key_len: find(a, NFTA_SET_KEY_LEN).and_then(be_u32).unwrap_or(0),
                            comment: find(a, NFTA_SET_USERDATA)
                                .and_then(|u| Udata::find_string(u, UDATA_SET_COMMENT)),
                        });
                    }
                    Ok(())
                },
            )?;
            Ok(out)
        });
        not_found_is_none(result)
    }

    /// The rules of table `table` in kernel order; `None` when the table
    /// does not exist.
    pub fn rules(
        &mut self,
        family: NfProto,
        table: &str,
    ) -> Result<Option<Vec<RuleInfo>>, NetlinkError> {
        let result = Self::retry(|| {
            let mut out = Vec::new();
            self.dump(
                NFT_MSG_GETRULE,
                family,
                |w| w.attr_str(NFTA_RULE_TABLE, table),
                |a| {
                    if find(a, NFTA_RULE_TABLE).map(string).as_deref() != Some(table) {
                        return Ok(());
                    }
                    let exprs = match find(a, NFTA_RULE_EXPRESSIONS) {
                        Some(list) => attrs(list)?
                            .into_iter()
                            .map(|(_, e)| decode_expr(e))
                            .collect::<Result<Vec<_>, _>>()?,
                        None => Vec::new(),
                    };
                    out.push(RuleInfo {
                        chain: find(a, NFTA_RULE_CHAIN).map(string).unwrap_or_default(),
                        handle: find(a, NFTA_RULE_HANDLE).and_then(be_u64).unwrap_or(0),
                        comment: find(a, NFTA_RULE_USERDATA)
                            .and_then(|u| Udata::find_string(u, UDATA_RULE_COMMENT)),
                        exprs,
                    });
                    Ok(())
                },
            )?;
            Ok(out)
        });
        not_found_is_none(result)
    }

    /// The elements of interval set `set` as sorted, joined, inclusive ranges.
    pub fn ranges<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
    ) -> Result<Vec<(K, K)>, NetlinkError> {
        let elems = Self::retry(|| {
            let mut elems: Vec<(K, bool)> = Vec::new();
            self.dump(
                NFT_MSG_GETSETELEM,
                family,
                |w| {
                    w.attr_str(NFTA_SET_ELEM_LIST_TABLE, table);
                    w.attr_str(NFTA_SET_ELEM_LIST_SET, set);
                },
                |a| {
                    let Some(list) = find(a, NFTA_SET_ELEM_LIST_ELEMENTS) else {
                        return Ok(());
                    };
                    for (_, elem) in attrs(list)? {
                        if let Some(e) = decode_element::<K>(elem)? {
                            elems.push(e);
                        }
                    }
                    Ok(())
                },
            )?;
            Ok(elems)
        })?;
        Ok(elements_to_ranges(elems))
    }

    /// The range of interval set `set` that holds `key`, if any — asked of
    /// the kernel directly, without listing the set.
    pub fn range_containing<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
        key: K,
    ) -> Result<Option<(K, K)>, NetlinkError> {
        // The start element at or below `key`, and the end element above it.
        let Some(start) = self.get_element(family, table, set, key, false)? else {
            return Ok(None);
        };
        let last = match self.get_element(family, table, set, key, true)? {
            Some(end) => match end.pred() {
                Some(last) => last,
                None => return Ok(None),
            },
            None => K::MAX,
        };
        if start <= key && key <= last {
            Ok(Some((start, last)))
        } else {
            Ok(None)
        }
    }

    fn get_element<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
        key: K,
        end: bool,
    ) -> Result<Option<K>, NetlinkError> {
        let seq = self.next_seq();
        let mut w = Writer::default();
        let m = w.begin_msg(
            nft_type(NFT_MSG_GETSETELEM),
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            family.number(),
            0,
        );
        w.attr_str(NFTA_SET_ELEM_LIST_TABLE, table);
        w.attr_str(NFTA_SET_ELEM_LIST_SET, set);
        let list = w.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS);
        let e = w.begin_nest(NFTA_LIST_ELEM);
        if end {
            w.attr_u32(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
        }
        let k = w.begin_nest(NFTA_SET_ELEM_KEY);
        let mut bytes = [0u8; 16];
        key.write_be(&mut bytes[..K::LEN]);
        w.attr(NFTA_DATA_VALUE, &bytes[..K::LEN]);
        w.end_nest(k);
        w.end_nest(e);
        w.end_nest(list);
        w.end_msg(m);
        self.send(&w.buf)?;
        let mut found = None;
        let result = self.replies(seq, |msg| {
            if is_nft(msg.ty, NFT_MSG_NEWSETELEM) {
                let a = attrs(msg.payload.get(NFGENMSG_LEN..).unwrap_or_default())?;
                if let Some(list) = find(&a, NFTA_SET_ELEM_LIST_ELEMENTS) {
                    for (_, elem) in attrs(list)? {
                        if let Some((k, is_end)) = decode_element::<K>(elem)? {
                            if is_end == end {
                                found = Some(k);
                            }
                        }
                    }
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(found),
            Err(NetlinkError::Refused { errno, .. }) if errno == libc::ENOENT => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn not_found_is_none<T>(result: Result<T, NetlinkError>) -> Result<Option<T>, NetlinkError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(NetlinkError::Refused { errno, .. }) if errno == libc::ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

fn decode_element<K: IntervalKey>(elem: &[u8]) -> Result<Option<(K, bool)>, NetlinkError> {
    let a = attrs(elem)?;
    let flags = find(&a, NFTA_SET_ELEM_FLAGS).and_then(be_u32).unwrap_or(0);
    let Some(key) = find(&a, NFTA_SET_ELEM_KEY) else {
        return Ok(None);
    };
    let value = attrs(key)?;
    let Some(bytes) = find(&value, NFTA_DATA_VALUE) else {
        return Ok(None);
    };
    Ok(K::read_be(bytes).map(|k| (k, flags & NFT_SET_ELEM_INTERVAL_END != 0)))
}

fn decode_expr(elem: &[u8]) -> Result<ExprInfo, NetlinkError> {
    let a = attrs(elem)?;
    let name = find(&a, NFTA_EXPR_NAME).map(string).unwrap_or_default();
    let data = match find(&a, NFTA_EXPR_DATA) {
        Some(d) => attrs(d)?,
        None => Vec::new(),
    };
    let u32_of = |kind| find(&data, kind).and_then(be_u32).unwrap_or(0);
    Ok(match name.as_str() {
        "meta" => ExprInfo::Meta {
            key: u32_of(NFTA_META_KEY),
        },
        "cmp" => {
            let value = match find(&data, NFTA_CMP_DATA) {
                Some(d) => find(&attrs(d)?, NFTA_DATA_VALUE)
                    .unwrap_or_default()
                    .to_vec(),
                None => Vec::new(),
            };
            ExprInfo::Cmp {
                op: u32_of(NFTA_CMP_OP),
                value,
            }
        }
        "payload" => ExprInfo::Payload {
            base: u32_of(NFTA_PAYLOAD_BASE),
            offset: u32_of(NFTA_PAYLOAD_OFFSET),
            len: u32_of(NFTA_PAYLOAD_LEN),
        },
        "lookup" => ExprInfo::Lookup {
            set: find(&data, NFTA_LOOKUP_SET).map(string).unwrap_or_default(),
            inverted: u32_of(NFTA_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV != 0,
        },
        "counter" => ExprInfo::Counter {
            packets: find(&data, NFTA_COUNTER_PACKETS)
                .and_then(be_u64)
                .unwrap_or(0),
            bytes: find(&data, NFTA_COUNTER_BYTES)
                .and_then(be_u64)
                .unwrap_or(0),
        },
        "immediate" => {
            let code = find(&data, NFTA_IMMEDIATE_DATA)
                .map(attrs)
                .transpose()?
                .and_then(|d| find(&d, NFTA_DATA_VERDICT).map(attrs))
                .transpose()?
                .and_then(|v| find(&v, NFTA_VERDICT_CODE).and_then(be_u32))
                .map(|c| c as i32);
            match code {
                Some(c) => ExprInfo::Verdict(c),
                None => ExprInfo::Other(name),
            }
        }
        _ => ExprInfo::Other(name),
    })
}
