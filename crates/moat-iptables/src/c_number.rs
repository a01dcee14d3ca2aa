//! Numbers read as iptables reads them with C's `sscanf` and `strtoumax`.

/// `text` after the white space C's `isspace` skips.
fn after_space(text: &str) -> &str {
    text.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b')
}

/// The number `sscanf("%u")` reads at the start of `text`: its decimal
/// digits up to the first other character, the largest when too large;
/// `None` without a digit.
pub(crate) fn leading_number(text: &str) -> Option<u64> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then(|| text[..digits].parse().unwrap_or(u64::MAX))
}

/// The number `sscanf("%llu")` reads: after white space and a sign, the
/// [`leading_number`], a negative one wrapped (`-1` is 2^64 - 1).
pub(crate) fn scanned_unsigned(word: &str) -> Option<u64> {
    scanned_unsigned_prefix(word).map(|(n, _)| n)
}

/// [`scanned_unsigned`] of the start of `text`, and the text after the
/// number (`sscanf("[%llu:%llu]")` looks for the colon right there).
pub(crate) fn scanned_unsigned_prefix(text: &str) -> Option<(u64, &str)> {
    let text = after_space(text);
    let (negative, text) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let value = leading_number(text)?;
    let rest = text.trim_start_matches(|c: char| c.is_ascii_digit());
    Some((
        if negative {
            value.wrapping_neg()
        } else {
            value
        },
        rest,
    ))
}

/// The whole of `word` as `strtoumax` reads it in base 0: after white space
/// and a `+`, `0x` starts hexadecimal and `0` octal digits (`0x1f` is 31,
/// `010` is 8); `None` for anything else or a number beyond `u64`.
pub(crate) fn base_zero(word: &str) -> Option<u64> {
    let text = after_space(word);
    let text = text.strip_prefix('+').unwrap_or(text);
    match leading_base_zero(text)? {
        (n, "") => Some(n),
        _ => None,
    }
}

/// The number `strtoull(text, &end, 0)` reads at the start of `text`, and
/// the rest after it: `0x` and hexadecimal digits, else a `0` and octal
/// digits, else decimal ones (`010kb` is 8 and `kb`); `None` without a
/// digit or for a number beyond `u64`.
pub(crate) fn leading_base_zero(text: &str) -> Option<(u64, &str)> {
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"));
    let (radix, number) = match hex {
        Some(hex) if hex.starts_with(|c: char| c.is_ascii_hexdigit()) => (16, hex),
        _ if text.starts_with('0') => (8, text),
        _ => (10, text),
    };
    let rest = number.trim_start_matches(|c: char| c.is_digit(radix));
    let digits = &number[..number.len() - rest.len()];
    let n = u64::from_str_radix(digits, radix).ok()?;
    Some((n, rest))
}
