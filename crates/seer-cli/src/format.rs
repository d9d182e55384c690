//! How keys and values are written on the command line and printed:
//! [`ByteFormat`] (UTF-8, hex or escaped bytes) parses an argument into
//! bytes and renders bytes as text, and [`json_string`] quotes rendered
//! text for `--json` lines; [`file_label`] names a file in output.

use std::fmt::Write as _;

use clap::ValueEnum;

/// How a key or value is written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ByteFormat {
    /// The text's UTF-8 bytes; printed bytes that are not UTF-8 show as
    /// U+FFFD (use `escaped` or `hex` for exact bytes).
    Utf8,
    /// Two hex digits a byte (`6b6579`); printed in lower case.
    Hex,
    /// Printable ASCII as is, `\\`, `\n`, `\r`, `\t`, `\0` and `\xNN` for
    /// any other byte; other characters are their UTF-8 bytes. Exact both
    /// ways, and safe on a terminal.
    #[default]
    Escaped,
}

impl ByteFormat {
    /// The bytes `text` stands for, or what is wrong with it.
    pub fn parse(self, text: &str) -> Result<Vec<u8>, String> {
        match self {
            Self::Utf8 => Ok(text.as_bytes().to_vec()),
            Self::Hex => parse_hex(text),
            Self::Escaped => parse_escaped(text),
        }
    }

    /// `bytes` as text.
    pub fn render(self, bytes: &[u8]) -> String {
        match self {
            Self::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Self::Hex => bytes.iter().fold(String::new(), |mut out, byte| {
                let _ = write!(out, "{byte:02x}");
                out
            }),
            Self::Escaped => render_escaped(bytes),
        }
    }
}

/// `text` as a JSON string literal, quotes included.
pub fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// A file's name (its last component), as output shows it: the same
/// wherever the database lives.
pub fn file_label(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!(
            "{text:?} is not hex: it has an odd number of digits"
        ));
    }
    (0..text.len())
        .step_by(2)
        .map(|at| {
            text.get(at..at + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("{text:?} is not hex: bad digits at character {at}"))
        })
        .collect()
}

fn parse_escaped(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            let mut utf8 = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            continue;
        }
        let bad = || {
            format!(
                "{text:?}: bad escape at character {at} (use \\\\, \\n, \\r, \\t, \\0 or \\xNN)"
            )
        };
        let byte = match chars.next().map(|(_, c)| c) {
            Some('\\') => b'\\',
            Some('n') => b'\n',
            Some('r') => b'\r',
            Some('t') => b'\t',
            Some('0') => 0,
            Some('x') => {
                let high = chars.next().and_then(|(_, c)| c.to_digit(16));
                let low = chars.next().and_then(|(_, c)| c.to_digit(16));
                match (high, low) {
                    (Some(high), Some(low)) => (high * 16 + low) as u8,
                    _ => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        };
        out.push(byte);
    }
    Ok(out)
}

fn render_escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0 => out.push_str("\\0"),
            b' '..=b'~' => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_format_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        for format in [ByteFormat::Hex, ByteFormat::Escaped] {
            let text = format.render(&all);
            assert_eq!(format.parse(&text).unwrap(), all, "{format:?}: {text}");
        }
        let text = "plain key é";
        assert_eq!(ByteFormat::Utf8.render(text.as_bytes()), text);
        assert_eq!(ByteFormat::Escaped.parse(text).unwrap(), text.as_bytes());
        assert_eq!(ByteFormat::Escaped.render(b"a\\b\x01"), "a\\\\b\\x01");
    }

    #[test]
    fn malformed_hex_and_escapes_are_refused_with_the_reason() {
        for bad in ["abc", "zz", "é1"] {
            assert!(ByteFormat::Hex.parse(bad).is_err(), "{bad}");
        }
        for bad in ["\\", "\\q", "\\x1", "\\xg0"] {
            let error = ByteFormat::Escaped.parse(bad).unwrap_err();
            assert!(error.contains("bad escape"), "{bad}: {error}");
        }
        assert_eq!(json_string("a\"b"), "\"a\\\"b\"");
    }
}
