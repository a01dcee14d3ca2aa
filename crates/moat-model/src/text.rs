//! Text kept in the kernel's fixed-size fields: an extension's name or
//! prefix, a rule's comment, user data.

/// The longest start of `text` of at most `max` bytes that ends on a
/// character boundary: what a field of `max` bytes keeps of a longer value.
pub fn first_bytes(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_whole_characters() {
        assert_eq!(first_bytes("abc", 5), "abc");
        assert_eq!(first_bytes("abcdef", 3), "abc");
        // é is two bytes: it does not fit after the h in two.
        assert_eq!(first_bytes("héllo", 2), "h");
        assert_eq!(first_bytes("héllo", 3), "hé");
        assert_eq!(first_bytes("é", 1), "");
    }
}
