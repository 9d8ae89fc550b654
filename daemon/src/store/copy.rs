//! Decoder for PostgreSQL's binary COPY stream, fed chunk by chunk as the
//! server sends them (a chunk may hold any part of a tuple).

use super::{StoreBuilder, StoreError};

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Longest field we accept (1 GiB is PostgreSQL's own varlena limit).
const MAX_FIELD: usize = 1 << 30;

/// Feeds a [`StoreBuilder`] from binary COPY bytes.
pub struct CopyDecoder {
    pending: Vec<u8>,
    header_done: bool,
    finished: bool,
    fields: usize,
    offsets: Vec<(usize, i32)>,
}

impl CopyDecoder {
    /// `fields` is the number of columns each tuple must carry.
    pub fn new(fields: usize) -> CopyDecoder {
        CopyDecoder {
            pending: Vec::new(),
            header_done: false,
            finished: false,
            fields,
            offsets: Vec::with_capacity(fields),
        }
    }

    /// True once the trailer has been read.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Consumes a chunk, pushing every complete tuple into `builder`.
    pub fn feed(&mut self, chunk: &[u8], builder: &mut StoreBuilder) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            let used = self.consume(chunk, builder)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(chunk);
            let used = self.consume(&buf, builder)?;
            buf.drain(..used);
            self.pending = buf;
        }
        Ok(())
    }

    /// Checks the stream ended cleanly.
    pub fn finish(&self) -> Result<(), StoreError> {
        if !self.finished {
            return Err(StoreError::Copy("stream ended before its trailer"));
        }
        if !self.pending.is_empty() {
            return Err(StoreError::Copy("bytes after the trailer"));
        }
        Ok(())
    }

    /// Parses as much of `buf` as holds whole units; returns bytes used.
    fn consume(&mut self, buf: &[u8], builder: &mut StoreBuilder) -> Result<usize, StoreError> {
        let mut pos = 0;
        if !self.header_done {
            if buf.len() < 19 {
                return Ok(0);
            }
            if &buf[..11] != SIGNATURE {
                return Err(StoreError::Copy("missing PGCOPY signature"));
            }
            let flags = u32::from_be_bytes([buf[11], buf[12], buf[13], buf[14]]);
            if flags & (1 << 16) != 0 {
                return Err(StoreError::Copy("OIDs in COPY data are not supported"));
            }
            let ext = u32::from_be_bytes([buf[15], buf[16], buf[17], buf[18]]) as usize;
            if buf.len() < 19 + ext {
                return Ok(0);
            }
            pos = 19 + ext;
            self.header_done = true;
        }
        loop {
            if self.finished {
                if pos < buf.len() {
                    return Err(StoreError::Copy("bytes after the trailer"));
                }
                return Ok(pos);
            }
            let Some(count) = buf.get(pos..pos + 2) else {
                return Ok(pos);
            };
            let count = i16::from_be_bytes([count[0], count[1]]);
            if count == -1 {
                self.finished = true;
                pos += 2;
                continue;
            }
            if count as usize != self.fields || count < 0 {
                return Err(StoreError::FieldCount {
                    row: builder.rows(),
                    got: count.max(0) as usize,
                    want: self.fields,
                });
            }
            // Find the tuple's end before pushing anything.
            self.offsets.clear();
            let mut p = pos + 2;
            for _ in 0..self.fields {
                let Some(len) = buf.get(p..p + 4) else {
                    return Ok(pos);
                };
                let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
                p += 4;
                self.offsets.push((p, len));
                if len >= 0 {
                    if len as usize > MAX_FIELD {
                        return Err(StoreError::Copy("field longer than 1 GiB"));
                    }
                    p += len as usize;
                } else if len != -1 {
                    return Err(StoreError::Copy("negative field length"));
                }
            }
            if p > buf.len() {
                return Ok(pos);
            }
            builder.push_row(
                self.offsets
                    .iter()
                    .map(|&(at, len)| (len >= 0).then(|| &buf[at..at + len as usize])),
            )?;
            pos = p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::{ColumnKind, ColumnSpec};
    use crate::store::{LoadInfo, Provenance};

    fn stream() -> Vec<u8> {
        let mut v = SIGNATURE.to_vec();
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        for (code, date, x) in [("A", 1i32, Some(7i64)), ("B", 1, None)] {
            v.extend_from_slice(&3i16.to_be_bytes());
            v.extend_from_slice(&(code.len() as i32).to_be_bytes());
            v.extend_from_slice(code.as_bytes());
            v.extend_from_slice(&4i32.to_be_bytes());
            v.extend_from_slice(&date.to_be_bytes());
            match x {
                Some(x) => {
                    v.extend_from_slice(&8i32.to_be_bytes());
                    v.extend_from_slice(&x.to_be_bytes());
                }
                None => v.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        v.extend_from_slice(&(-1i16).to_be_bytes());
        v
    }

    fn builder() -> StoreBuilder {
        let specs = vec![
            ColumnSpec::new("c", ColumnKind::Text, false),
            ColumnSpec::new("d", ColumnKind::Date, false),
            ColumnSpec::new("x", ColumnKind::Int8, true),
        ];
        StoreBuilder::new(specs, "c", "d", 2).unwrap()
    }

    fn info() -> LoadInfo {
        LoadInfo {
            generation: 1,
            loaded_at: std::time::SystemTime::UNIX_EPOCH,
            load_ms: 0,
            provenance: Provenance {
                kind: "demo",
                detail: String::new(),
                window_days: 0,
                skipped: vec![],
            },
            read: super::super::Read::FULL,
        }
    }

    #[test]
    fn decodes_in_any_chunking() {
        let bytes = stream();
        for size in [1, 2, 3, 7, 19, 64, bytes.len()] {
            let mut b = builder();
            let mut d = CopyDecoder::new(3);
            for chunk in bytes.chunks(size) {
                d.feed(chunk, &mut b).unwrap();
            }
            d.finish().unwrap();
            let s = b.finish(info());
            assert_eq!(s.rows(), 2, "chunk size {size}");
            assert!(s.columns()[2].is_null(1));
        }
    }

    #[test]
    fn truncated_and_garbage_streams_fail() {
        let bytes = stream();
        let mut b = builder();
        let mut d = CopyDecoder::new(3);
        d.feed(&bytes[..bytes.len() - 5], &mut b).unwrap();
        assert!(d.finish().is_err());

        let mut b = builder();
        let mut d = CopyDecoder::new(3);
        assert!(d
            .feed(b"NOTCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0", &mut b)
            .is_err());

        let mut b = builder();
        let mut d = CopyDecoder::new(2);
        assert!(d.feed(&bytes, &mut b).is_err());
    }
}
