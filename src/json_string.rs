//! JSON strings, byte by byte: which bytes end a plain run of string text, and how the
//! writer escapes them. The one place both the readers (through `crate::cursor`) and
//! the writer (`crate::json_writer`) take this from.

/// How many bytes of `bytes` come before the first one that ends the plain part of a JSON
/// string, eight at a time: the closing quote, the start of an escape, or a control
/// character (below 0x20), which JSON does not allow in a string. The writer escapes
/// exactly these bytes.
#[inline]
pub(crate) fn plain_len(bytes: &[u8]) -> usize {
    let mut at = 0;
    for chunk in bytes.chunks_exact(8) {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        if let Some(stop) = first_stop(word) {
            return at + stop;
        }
        at += 8;
    }
    // The last few bytes: as the last eight, overlapping bytes already known plain, or
    // one by one in a string shorter than eight.
    if at == bytes.len() {
        return at;
    }
    if let Some(last) = bytes.last_chunk::<8>() {
        let start = bytes.len() - 8;
        return first_stop(u64::from_le_bytes(*last)).map_or(bytes.len(), |stop| start + stop);
    }
    bytes
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .unwrap_or(bytes.len())
}

/// The index of the first byte that ends a plain run (see [`plain_len`]) among the eight bytes of `word`
/// (little-endian), if any.
#[inline]
fn first_stop(word: u64) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    /// A word with the high bit set in (at least) the lowest byte that is zero; bytes
    /// above it may be flagged too, below it never.
    const fn zero_bytes(word: u64) -> u64 {
        word.wrapping_sub(ONES) & !word & HIGHS
    }
    let stops = zero_bytes(word ^ (ONES * u64::from(b'"')))
        | zero_bytes(word ^ (ONES * u64::from(b'\\')))
        // Bytes below 0x20: zero after clearing the low five bits, unless the high bit is set.
        | zero_bytes(word & (ONES * 0xe0));
    (stops != 0).then(|| (stops.trailing_zeros() / 8) as usize)
}

/// Appends `text` as a JSON string: quoted, with `"` and `\` escaped, the control
/// characters that have a short escape written as `\b`, `\t`, `\n`, `\f`, `\r`, the
/// others as `\u00XX` (lower-case hex), and everything else, DEL and non-ASCII
/// included, as it is. This is serde_json's choice of escapes, so that the output is
/// the same bytes whichever of the two writes it.
pub(crate) fn write_quoted(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    let mut rest = text.as_bytes();
    loop {
        let plain = plain_len(rest);
        out.extend_from_slice(&rest[..plain]);
        let Some(&stop) = rest.get(plain) else { break };
        write_escape(out, stop);
        rest = &rest[plain + 1..];
    }
    out.push(b'"');
}

/// The escape of a byte that ends a plain run (see [`plain_len`]).
fn write_escape(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        b'\t' => b't',
        b'\n' => b'n',
        0x0c => b'f',
        b'\r' => b'r',
        _ => {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes that end a plain run, one by one: the reference for `plain_len`.
    const STRING_STOP: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 0x20 {
            table[b] = true;
            b += 1;
        }
        table[b'"' as usize] = true;
        table[b'\\' as usize] = true;
        table
    };

    /// The byte-at-a-time answer that `plain_len` must give.
    fn plain_len_slow(bytes: &[u8]) -> usize {
        bytes
            .iter()
            .position(|&b| STRING_STOP[usize::from(b)])
            .unwrap_or(bytes.len())
    }

    #[test]
    fn plain_len_finds_the_first_stop_byte_at_every_position() {
        for len in 0..24 {
            for at in 0..=len {
                for stop in (0..=255u8).filter(|&b| STRING_STOP[usize::from(b)]) {
                    for filler in [b'a', 0x7f, 0x80, 0xff, b'!', b'#', b'['] {
                        let mut bytes = vec![filler; len];
                        if at < len {
                            bytes[at] = stop;
                        }
                        // A second stop after the first must not matter.
                        if at + 3 < len {
                            bytes[at + 3] = b'"';
                        }
                        assert_eq!(plain_len(&bytes), plain_len_slow(&bytes), "{bytes:?}");
                    }
                }
            }
        }
    }

    /// serde_json's escapes, which `write_quoted` must give byte for byte.
    fn quoted_by_serde_json(text: &str) -> Vec<u8> {
        serde_json::to_vec(text).unwrap()
    }

    #[test]
    fn write_quoted_escapes_every_character_as_serde_json_does() {
        let specials = [
            '\u{80}',
            '\u{7ff}',
            '\u{800}',
            '\u{2028}',
            '\u{fffd}',
            '\u{10ffff}',
        ];
        let every_ascii = (0..=0x7fu8).map(char::from);
        for c in every_ascii.chain(specials) {
            for len in 0..20 {
                for at in 0..=len {
                    let text: String = (0..len)
                        .map(|i| if i == at { c } else { 'x' })
                        .chain(std::iter::once(c))
                        .collect();
                    let mut out = vec![b'['];
                    write_quoted(&mut out, &text);
                    let mut expected = vec![b'['];
                    expected.extend(quoted_by_serde_json(&text));
                    assert_eq!(out, expected, "{text:?}");
                }
            }
        }
    }
}
