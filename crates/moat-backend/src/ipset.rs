//! The kernel's ipsets (the `ipset` tool's sets, outside nf_tables), found
//! by name as iptables finds them for `-m set` and `-j SET`: the
//! `SO_IP_SET` socket option's request for a set's index and family.

use std::io;
use std::os::fd::AsRawFd;

use moat_model::Family;

/// `SO_IP_SET`, the socket option of the ipset requests (level `SOL_IP`).
const SO_IP_SET: libc::c_int = 83;
/// The request for a set's index and family by its name.
const IP_SET_OP_GET_FNAME: u32 = 0x0000_0008;
/// The request protocol version (the kernel takes 6 and 7).
const IPSET_PROTOCOL: u32 = 7;
/// The longest set name, its terminating zero included.
const IPSET_MAXNAMELEN: usize = 32;
/// The index the kernel answers for a name no set has.
const IPSET_INVALID_ID: u16 = 0xffff;
/// `NFPROTO_IPV4` and `NFPROTO_IPV6`.
const NFPROTO_IPV4: u32 = 2;
const NFPROTO_IPV6: u32 = 10;

/// `struct ip_set_req_get_set_family`: the request and the kernel's answer.
#[repr(C)]
struct GetSetFamily {
    op: u32,
    version: u32,
    family: u32,
    /// The set's name on the way in, its index (a `u16`) on the way out.
    name_or_index: [u8; IPSET_MAXNAMELEN],
}

/// An ipset the kernel holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpSet {
    /// The index rules name it by.
    pub index: u16,
    /// The family of its addresses (`None` for sets of other things, such
    /// as lists of sets).
    pub family: Option<Family>,
}

/// The ipset named `name` in this network namespace, if there is one.
pub fn find_ipset(name: &str) -> io::Result<Option<IpSet>> {
    if name.is_empty() || name.len() >= IPSET_MAXNAMELEN || name.contains('\0') {
        return Ok(None);
    }
    let mut req = GetSetFamily {
        op: IP_SET_OP_GET_FNAME,
        version: IPSET_PROTOCOL,
        family: 0,
        name_or_index: [0; IPSET_MAXNAMELEN],
    };
    req.name_or_index[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: a plain socket call; the descriptor is owned right after.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nothing else owns.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut len = std::mem::size_of::<GetSetFamily>() as libc::socklen_t;
    // SAFETY: `req` is a live, writable `GetSetFamily` of `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_IP,
            SO_IP_SET,
            std::ptr::addr_of_mut!(req).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        // No ipset support in the kernel: no ipset either.
        return match e.raw_os_error() {
            Some(libc::ENOPROTOOPT) => Ok(None),
            _ => Err(e),
        };
    }
    let index = u16::from_ne_bytes([req.name_or_index[0], req.name_or_index[1]]);
    if index == IPSET_INVALID_ID {
        return Ok(None);
    }
    let family = match req.family {
        NFPROTO_IPV4 => Some(Family::Ipv4),
        NFPROTO_IPV6 => Some(Family::Ipv6),
        _ => None,
    };
    Ok(Some(IpSet { index, family }))
}
