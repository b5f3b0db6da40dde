//! A little-endian cursor over bytes already in memory (a block, an event
//! payload) that knows its absolute stream offset, so every error says where.

use super::error::NettraceError;

/// Reads primitives from a slice; every read is bounds-checked and a short
/// read is a [`NettraceError::Truncated`] at the absolute offset.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
}

impl<'a> Cursor<'a> {
    /// A cursor over `buf`, whose first byte is at stream offset `base`.
    pub fn new(buf: &'a [u8], base: u64) -> Self {
        Cursor { buf, pos: 0, base }
    }

    /// Stream offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Index of the next byte within the slice.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn bytes(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], NettraceError> {
        if self.remaining() < n {
            return Err(NettraceError::Truncated {
                offset: self.offset(),
                what,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn skip(&mut self, what: &'static str, n: usize) -> Result<(), NettraceError> {
        self.bytes(what, n).map(drop)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], NettraceError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(what, N)?);
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, NettraceError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, NettraceError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, NettraceError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, NettraceError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub fn i64(&mut self, what: &'static str) -> Result<i64, NettraceError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    pub fn guid(&mut self, what: &'static str) -> Result<[u8; 16], NettraceError> {
        self.array(what)
    }

    /// A pointer-sized field (`win:Pointer`): 4 or 8 bytes, as the trace says.
    pub fn pointer(&mut self, what: &'static str, pointer_size: u32) -> Result<u64, NettraceError> {
        match pointer_size {
            4 => self.u32(what).map(u64::from),
            _ => self.u64(what),
        }
    }

    /// A LEB128-style unsigned integer of at most 64 bits (10 bytes).
    pub fn varuint64(&mut self, what: &'static str) -> Result<u64, NettraceError> {
        let start = self.offset();
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.u8(what)?;
            let bits = u64::from(byte & 0x7F);
            if shift == 63 && bits > 1 {
                return Err(NettraceError::malformed(
                    start,
                    format!("{what}: variable-length integer overflows 64 bits"),
                ));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(NettraceError::malformed(
            start,
            format!("{what}: variable-length integer longer than 10 bytes"),
        ))
    }

    /// A LEB128-style unsigned integer that must fit 32 bits.
    pub fn varuint32(&mut self, what: &'static str) -> Result<u32, NettraceError> {
        let start = self.offset();
        let value = self.varuint64(what)?;
        u32::try_from(value).map_err(|_| {
            NettraceError::malformed(start, format!("{what}: {value} does not fit 32 bits"))
        })
    }

    /// A NUL-terminated UTF-16LE string (EventPipe's `win:UnicodeString`).
    /// Unpaired surrogates are replaced, not rejected: type names come from
    /// the traced program and may hold anything.
    pub fn utf16z(&mut self, what: &'static str) -> Result<String, NettraceError> {
        let rest = &self.buf[self.pos..];
        let units = rest.len() / 2;
        let end = (0..units)
            .find(|&i| rest[2 * i] == 0 && rest[2 * i + 1] == 0)
            .ok_or(NettraceError::Truncated {
                offset: self.offset(),
                what,
            })?;
        let text: Vec<u16> = rest[..2 * end]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        self.pos += 2 * end + 2;
        Ok(String::from_utf16_lossy(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_primitives_with_offsets() {
        let bytes = [1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0];
        let mut c = Cursor::new(&bytes, 100);
        assert_eq!(c.u16("a").unwrap(), 1);
        assert_eq!(c.u32("b").unwrap(), 2);
        assert_eq!(c.offset(), 106);
        assert_eq!(c.u64("c").unwrap(), 3);
        let err = c.u8("d").unwrap_err();
        assert!(matches!(
            err,
            NettraceError::Truncated {
                offset: 114,
                what: "d"
            }
        ));
        assert_eq!(
            err.to_string(),
            "the trace ends early at byte offset 114: d is cut off"
        );
    }

    #[test]
    fn varints_decode_and_reject_overflow() {
        let mut c = Cursor::new(&[0x7F, 0x80, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], 0);
        assert_eq!(c.varuint64("v").unwrap(), 127);
        assert_eq!(c.varuint64("v").unwrap(), 128);
        assert_eq!(c.varuint32("v").unwrap(), u32::MAX);

        let max = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        assert_eq!(Cursor::new(&max, 0).varuint64("v").unwrap(), u64::MAX);
        let over = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02];
        assert!(matches!(
            Cursor::new(&over, 0).varuint64("v"),
            Err(NettraceError::Malformed { .. })
        ));
        let endless = [0x80; 12];
        assert!(Cursor::new(&endless, 0).varuint64("v").is_err());
        let too_big = [0x80, 0x80, 0x80, 0x80, 0x10];
        assert!(matches!(
            Cursor::new(&too_big, 7).varuint32("v"),
            Err(NettraceError::Malformed { offset: 7, .. })
        ));
        assert!(matches!(
            Cursor::new(&[0x80], 0).varuint32("v"),
            Err(NettraceError::Truncated { .. })
        ));
    }

    #[test]
    fn utf16_strings_end_at_nul_and_must_have_one() {
        let mut bytes: Vec<u8> = "Tÿpe".encode_utf16().flat_map(u16::to_le_bytes).collect();
        bytes.extend([0, 0, 9]);
        let mut c = Cursor::new(&bytes, 0);
        assert_eq!(c.utf16z("name").unwrap(), "Tÿpe");
        assert_eq!(c.u8("after").unwrap(), 9);
        // No terminator: truncated, not a panic or a runaway read.
        let mut c = Cursor::new(&[b'a', 0, b'b'], 0);
        assert!(matches!(
            c.utf16z("name"),
            Err(NettraceError::Truncated { .. })
        ));
        // A lone surrogate is replaced.
        let mut c = Cursor::new(&[0x00, 0xD8, 0, 0], 0);
        assert_eq!(c.utf16z("name").unwrap(), "\u{FFFD}");
    }
}
