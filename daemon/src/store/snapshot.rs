//! Store snapshots for warm restarts: the whole store written to one file
//! in the state directory after each successful load, read back at start
//! when PostgreSQL cannot be reached.
//!
//! Format (little-endian): magic `STOCKDSN`, format version (u32), body, CRC32
//! of the body. Writes go to a temporary file that is fsynced and renamed
//! over the old snapshot (then the directory is fsynced), so a crash leaves
//! either the old snapshot or the new one, never half of one. Reads check the
//! version first, bound every length by what is left of the file, and check
//! the CRC at the end: a corrupt, truncated or old-version file is refused
//! with a reason, never half loaded.
//!
//! Each write has its own temporary name (process id and a sequence
//! number), and a write can be cancelled between two 64 KiB blocks: it then
//! removes its temporary file and the previous snapshot stays in place.
//! One write at a time is the job of [`crate::snapshots::SnapshotWriter`].

use super::column::{
    decimal_exp, Bitmap, ByCode, Codes, Column, ColumnData, Decimals, Doubles, Reals, StrArena,
    MAX_DEN,
};
use super::packed::{Head, Packed};
use super::schema::{ColumnKind, ColumnSpec};
use super::shared::{room_for, Shared};
use super::{LoadInfo, Provenance, Store};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

pub const MAGIC: &[u8; 8] = b"STOCKDSN";
/// Bumped whenever the body layout changes; older files are ignored.
pub const VERSION: u32 = 9;
/// The snapshot's file name inside the state directory.
pub const FILE_NAME: &str = "store.snapshot";
/// Longest name or type string accepted.
const MAX_STR: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a stockd snapshot (bad magic)")]
    Magic,
    #[error("snapshot format version {found}, this stockd reads version {VERSION}")]
    Version { found: u32 },
    #[error("snapshot is truncated or corrupt: {0}")]
    Corrupt(&'static str),
    #[error("snapshot checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    Checksum { stored: u32, computed: u32 },
}

fn corrupt(what: &'static str) -> SnapshotError {
    SnapshotError::Corrupt(what)
}

/// Fixed-size values written as little-endian bytes.
trait Pod: Sized + Copy {
    const SIZE: usize;
    fn put(self, out: &mut Vec<u8>);
    fn take(b: &[u8]) -> Self;
}

macro_rules! pod {
    ($($t:ty),*) => {$(
        impl Pod for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn take(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..Self::SIZE]);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
pod!(u8, u16, u32, u64, i16, i32, i64, i128, f32, f64);

/// A writer that checksums what it writes and stops when `cancel` is set.
struct Out<'a, W: Write> {
    w: W,
    crc: crc32fast::Hasher,
    buf: Vec<u8>,
    cancel: &'a AtomicBool,
}

/// The error of a write stopped by its cancel flag.
fn cancelled() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "cancelled (stockd is stopping)")
}

impl<W: Write> Out<'_, W> {
    fn check(&self) -> io::Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.check()?;
        self.crc.update(&self.buf);
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn pod<T: Pod>(&mut self, v: T) -> io::Result<()> {
        v.put(&mut self.buf);
        if self.buf.len() >= 1 << 16 {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.pod(b.len() as u64)?;
        self.flush_buf()?;
        self.crc.update(b);
        for block in b.chunks(1 << 20) {
            self.check()?;
            self.w.write_all(block)?;
        }
        Ok(())
    }

    fn str(&mut self, s: &str) -> io::Result<()> {
        self.bytes(s.as_bytes())
    }

    fn vec<T: Pod>(&mut self, v: &[T]) -> io::Result<()> {
        self.pod(v.len() as u64)?;
        for &x in v {
            self.pod(x)?;
        }
        Ok(())
    }
}

/// A reader that checksums what it reads and never reads past the file.
struct In<R: Read> {
    r: R,
    crc: crc32fast::Hasher,
    left: u64,
}

impl<R: Read> In<R> {
    fn exact(&mut self, n: usize) -> Result<Vec<u8>, SnapshotError> {
        if n as u64 > self.left {
            return Err(corrupt("a length runs past the end of the file"));
        }
        let mut b = vec![0u8; n];
        self.r.read_exact(&mut b)?;
        self.crc.update(&b);
        self.left -= n as u64;
        Ok(b)
    }

    fn pod<T: Pod>(&mut self) -> Result<T, SnapshotError> {
        Ok(T::take(&self.exact(T::SIZE)?))
    }

    fn len(&mut self, elem: usize) -> Result<usize, SnapshotError> {
        let n: u64 = self.pod()?;
        if n.saturating_mul(elem.max(1) as u64) > self.left {
            return Err(corrupt("a length runs past the end of the file"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, SnapshotError> {
        let n = self.len(1)?;
        self.exact(n)
    }

    fn str(&mut self, max: usize) -> Result<String, SnapshotError> {
        let b = self.bytes()?;
        if b.len() > max {
            return Err(corrupt("a string is too long"));
        }
        String::from_utf8(b).map_err(|_| corrupt("a string is not UTF-8"))
    }

    /// A column's values, in a buffer with room to append later rows.
    fn column<T: Pod + Send + Sync>(&mut self, rows: usize) -> Result<Shared<T>, SnapshotError> {
        Ok(self.vec_with_room(Some(rows), room_for)?.into())
    }

    fn vec<T: Pod>(&mut self, expect: Option<usize>) -> Result<Vec<T>, SnapshotError> {
        self.vec_with_room(expect, |_| 0)
    }

    /// `expect` values (checked), in a `Vec` with `room(n)` spare capacity.
    fn vec_with_room<T: Pod>(
        &mut self,
        expect: Option<usize>,
        room: impl Fn(usize) -> usize,
    ) -> Result<Vec<T>, SnapshotError> {
        let n = self.len(T::SIZE)?;
        if expect.is_some_and(|e| e != n) {
            return Err(corrupt("a column's length differs from the row count"));
        }
        let mut v = Vec::with_capacity(n + room(n));
        // Read in slabs: one allocation per column, bounded temporary.
        let mut remaining = n;
        while remaining > 0 {
            let k = remaining.min(1 << 14);
            let b = self.exact(k * T::SIZE)?;
            v.extend(b.chunks_exact(T::SIZE).map(T::take));
            remaining -= k;
        }
        Ok(v)
    }
}

fn kind_tag(k: ColumnKind) -> (u8, u16, u16) {
    const NONE: u16 = u16::MAX;
    match k {
        ColumnKind::Int2 => (1, NONE, NONE),
        ColumnKind::Int4 => (2, NONE, NONE),
        ColumnKind::Int8 => (3, NONE, NONE),
        ColumnKind::Float4 => (4, NONE, NONE),
        ColumnKind::Float8 => (5, NONE, NONE),
        ColumnKind::Numeric { precision, scale } => {
            (6, precision.unwrap_or(NONE), scale.unwrap_or(NONE))
        }
        ColumnKind::Bool => (7, NONE, NONE),
        ColumnKind::Date => (8, NONE, NONE),
        ColumnKind::Timestamp => (9, NONE, NONE),
        ColumnKind::TimestampTz => (10, NONE, NONE),
        ColumnKind::Text => (11, NONE, NONE),
    }
}

fn kind_from(tag: u8, p: u16, s: u16) -> Result<ColumnKind, SnapshotError> {
    let opt = |v: u16| (v != u16::MAX).then_some(v);
    Ok(match tag {
        1 => ColumnKind::Int2,
        2 => ColumnKind::Int4,
        3 => ColumnKind::Int8,
        4 => ColumnKind::Float4,
        5 => ColumnKind::Float8,
        6 => ColumnKind::Numeric {
            precision: opt(p),
            scale: opt(s),
        },
        7 => ColumnKind::Bool,
        8 => ColumnKind::Date,
        9 => ColumnKind::Timestamp,
        10 => ColumnKind::TimestampTz,
        11 => ColumnKind::Text,
        _ => return Err(corrupt("unknown column kind")),
    })
}

fn write_bitmap<W: Write>(o: &mut Out<'_, W>, b: &Bitmap) -> io::Result<()> {
    o.pod(b.len() as u64)?;
    o.vec(&b.dense_words())
}

fn read_bitmap<R: Read>(i: &mut In<R>, rows: usize) -> Result<Bitmap, SnapshotError> {
    let len: u64 = i.pod()?;
    if len as usize != rows {
        return Err(corrupt("a bitmap's length differs from the row count"));
    }
    let words = i.vec::<u64>(Some(rows.div_ceil(64)))?;
    Bitmap::from_words(words, rows).ok_or(corrupt("a bitmap's words do not match its length"))
}

fn write_arena<W: Write>(o: &mut Out<'_, W>, a: &StrArena) -> io::Result<()> {
    let (bytes, ends) = a.parts();
    o.str(bytes)?;
    o.vec(ends)
}

fn read_arena<R: Read>(i: &mut In<R>) -> Result<StrArena, SnapshotError> {
    let bytes = String::from_utf8(i.bytes()?).map_err(|_| corrupt("text is not UTF-8"))?;
    let ends = i.vec::<u32>(None)?;
    StrArena::from_parts(bytes, ends).ok_or(corrupt("a text arena's offsets are out of order"))
}

/// A packed column as it is held: block headers, words, tail.
fn write_packed<W: Write>(o: &mut Out<'_, W>, p: &Packed) -> io::Result<()> {
    let (heads, words, tail) = p.parts();
    o.vec(&heads.iter().map(|h| h.base).collect::<Vec<i64>>())?;
    o.vec(&heads.iter().map(|h| h.meta).collect::<Vec<u64>>())?;
    o.vec(words)?;
    o.vec(&tail)
}

fn read_packed<R: Read>(i: &mut In<R>, rows: usize) -> Result<Packed, SnapshotError> {
    let bases: Vec<i64> = i.vec(None)?;
    let metas: Vec<u64> = i.vec(Some(bases.len()))?;
    let heads = bases
        .into_iter()
        .zip(metas)
        .map(|(base, meta)| Head { base, meta })
        .collect();
    // With the room the column keeps for later rows: no copy to add it.
    let words = i.vec_with_room(None, room_for)?;
    let tail = i.vec(None)?;
    Packed::from_parts(rows, heads, words, tail).map_err(corrupt)
}

fn write_decimals<W: Write>(o: &mut Out<'_, W>, d: &Decimals) -> io::Result<()> {
    match d {
        Decimals::Packed(p) => (o.pod(0u8)?, write_packed(o, p)?),
        Decimals::I128(v) => (o.pod(16u8)?, o.vec(v)?),
        // The codes are the code column's: linked again at read.
        Decimals::ByCode(v) => (o.pod(1u8)?, {
            o.vec(&v.base)?;
            write_packed(o, &v.offsets)?
        }),
    };
    Ok(())
}

fn read_decimals<R: Read>(i: &mut In<R>, rows: usize) -> Result<Decimals, SnapshotError> {
    let width: u8 = i.pod()?;
    Ok(match width {
        0 => Decimals::Packed(read_packed(i, rows)?),
        16 => Decimals::I128(i.column(rows)?),
        1 => Decimals::ByCode(ByCode {
            base: i.vec::<i64>(None)?.into(),
            codes: Codes::default(),
            offsets: read_packed(i, rows)?,
        }),
        _ => return Err(corrupt("unknown decimal layout")),
    })
}

fn write_data<W: Write>(o: &mut Out<'_, W>, d: &ColumnData) -> io::Result<()> {
    match d {
        ColumnData::Int2(v) => (o.pod(1u8)?, write_packed(o, v)?),
        ColumnData::Int4(v) => (o.pod(2u8)?, write_packed(o, v)?),
        ColumnData::Int8(v) => (o.pod(3u8)?, write_packed(o, v)?),
        ColumnData::Float4(v) => {
            o.pod(4u8)?;
            o.pod(v.exp.unwrap_or(u8::MAX))?;
            (write_packed(o, &v.values)?, ())
        }
        ColumnData::Float8(v) => match &v.dict {
            None => (o.pod(5u8)?, write_packed(o, &v.values)?),
            Some(d) => {
                o.pod(15u8)?;
                o.vec(d)?;
                (write_packed(o, &v.values)?, ())
            }
        },
        ColumnData::Decimal { scale, values } => {
            o.pod(6u8)?;
            o.pod(*scale)?;
            (write_decimals(o, values)?, ())
        }
        // A decimal as its exponent byte (tag 13), a fraction with its
        // denominator (tag 14).
        ColumnData::DecimalF64 { den, values } => {
            match decimal_exp(*den) {
                Some(exp) => {
                    o.pod(13u8)?;
                    o.pod(exp)?;
                }
                None => {
                    o.pod(14u8)?;
                    o.pod(*den)?;
                }
            }
            (write_decimals(o, values)?, ())
        }
        ColumnData::DecimalText(a) => (o.pod(7u8)?, write_arena(o, a)?),
        ColumnData::Bool(b) => (o.pod(8u8)?, write_bitmap(o, b)?),
        ColumnData::Date(v) => (o.pod(9u8)?, write_packed(o, v)?),
        ColumnData::Timestamp(v) => (o.pod(10u8)?, write_packed(o, v)?),
        ColumnData::TimestampTz(v) => (o.pod(11u8)?, write_packed(o, v)?),
        ColumnData::Text { dict, codes } => {
            o.pod(12u8)?;
            write_arena(o, dict)?;
            (write_packed(o, codes.packed())?, ())
        }
    };
    Ok(())
}

fn read_data<R: Read>(i: &mut In<R>, rows: usize) -> Result<ColumnData, SnapshotError> {
    let tag: u8 = i.pod()?;
    Ok(match tag {
        1 => ColumnData::Int2(read_packed(i, rows)?),
        2 => ColumnData::Int4(read_packed(i, rows)?),
        3 => ColumnData::Int8(read_packed(i, rows)?),
        4 => {
            let exp = match i.pod::<u8>()? {
                u8::MAX => None,
                e @ 0..=10 => Some(e),
                _ => return Err(corrupt("real exponent above 10")),
            };
            ColumnData::Float4(Reals {
                exp,
                values: read_packed(i, rows)?,
            })
        }
        5 => ColumnData::Float8(Doubles::from_parts(None, read_packed(i, rows)?).map_err(corrupt)?),
        15 => {
            let dict: Vec<u64> = i.vec(None)?;
            let codes = read_packed(i, rows)?;
            ColumnData::Float8(Doubles::from_parts(Some(dict), codes).map_err(corrupt)?)
        }
        6 => {
            let scale: u16 = i.pod()?;
            let values = read_decimals(i, rows)?;
            ColumnData::Decimal { scale, values }
        }
        13 => {
            let exp: u8 = i.pod()?;
            if exp > 9 {
                return Err(corrupt("decimal-coded float exponent above 9"));
            }
            let values = read_decimals(i, rows)?;
            ColumnData::DecimalF64 {
                den: 10u64.pow(exp.into()),
                values,
            }
        }
        14 => {
            let den: u64 = i.pod()?;
            if den == 0 || den > MAX_DEN {
                return Err(corrupt("fraction-coded float denominator 0 or above 2^53"));
            }
            let values = read_decimals(i, rows)?;
            ColumnData::DecimalF64 { den, values }
        }
        7 => {
            let a = read_arena(i)?;
            if a.len() != rows {
                return Err(corrupt(
                    "a decimal column's length differs from the row count",
                ));
            }
            ColumnData::DecimalText(a)
        }
        8 => ColumnData::Bool(read_bitmap(i, rows)?),
        9 => ColumnData::Date(read_packed(i, rows)?),
        10 => ColumnData::Timestamp(read_packed(i, rows)?),
        11 => ColumnData::TimestampTz(read_packed(i, rows)?),
        12 => {
            let dict = read_arena(i)?;
            let codes = Codes::from_packed(read_packed(i, rows)?, dict.len())
                .ok_or_else(|| corrupt("a dictionary code is out of range"))?;
            ColumnData::Text { dict, codes }
        }
        _ => return Err(corrupt("unknown column layout")),
    })
}

fn write_body<W: Write>(o: &mut Out<'_, W>, s: &Store) -> io::Result<()> {
    o.pod(s.rows as u64)?;
    o.pod(s.code_col as u32)?;
    o.pod(s.date_col as u32)?;
    let at = s
        .info
        .loaded_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    o.pod(s.info.generation)?;
    o.pod(at.as_micros() as u64)?;
    o.pod(s.info.load_ms)?;
    let p = &s.info.provenance;
    o.str(p.kind)?;
    o.str(&p.detail)?;
    o.pod(p.window_days)?;
    o.pod(p.skipped.len() as u32)?;
    for (name, ty) in &p.skipped {
        o.str(name)?;
        o.str(ty)?;
    }
    o.pod(s.specs.len() as u32)?;
    for (spec, col) in s.specs.iter().zip(&s.columns) {
        o.str(&spec.name)?;
        let (tag, p, sc) = kind_tag(spec.kind);
        o.pod(tag)?;
        o.pod(p)?;
        o.pod(sc)?;
        o.pod(spec.nullable as u8)?;
        o.str(&spec.pg_type)?;
        write_data(o, &col.data)?;
        match &col.nulls {
            Some(b) => (o.pod(1u8)?, write_bitmap(o, b)?),
            None => (o.pod(0u8)?, ()),
        };
    }
    match &s.retired {
        Some(b) => (o.pod(1u8)?, write_bitmap(o, b)?),
        None => (o.pod(0u8)?, ()),
    };
    Ok(())
}

fn read_body<R: Read>(i: &mut In<R>) -> Result<Store, SnapshotError> {
    let rows = i.pod::<u64>()? as usize;
    if rows > super::MAX_ROWS {
        return Err(corrupt("row count out of range"));
    }
    let code_col = i.pod::<u32>()? as usize;
    let date_col = i.pod::<u32>()? as usize;
    let generation: u64 = i.pod()?;
    let at_us: u64 = i.pod()?;
    let load_ms: u64 = i.pod()?;
    let kind = match i.str(64)?.as_str() {
        "demo" => "demo",
        "postgres" => "postgres",
        _ => return Err(corrupt("unknown source kind")),
    };
    let detail = i.str(MAX_STR)?;
    let window_days: u32 = i.pod()?;
    let nskipped = i.pod::<u32>()? as usize;
    let mut skipped = Vec::new();
    for _ in 0..nskipped {
        skipped.push((i.str(MAX_STR)?, i.str(MAX_STR)?));
    }
    let ncols = i.pod::<u32>()? as usize;
    if ncols > 1600 {
        return Err(corrupt("more columns than PostgreSQL allows"));
    }
    let mut specs = Vec::with_capacity(ncols);
    let mut columns = Vec::with_capacity(ncols);
    for _ in 0..ncols {
        let name = i.str(MAX_STR)?;
        let (tag, p, s): (u8, u16, u16) = (i.pod()?, i.pod()?, i.pod()?);
        let kind = kind_from(tag, p, s)?;
        let nullable = i.pod::<u8>()? != 0;
        let pg_type = i.str(MAX_STR)?;
        let data = read_data(i, rows)?;
        let nulls = match i.pod::<u8>()? {
            0 => None,
            1 => Some(read_bitmap(i, rows)?.sparse()),
            _ => return Err(corrupt("bad null-bitmap flag")),
        };
        specs.push(ColumnSpec {
            name,
            kind,
            nullable,
            pg_type,
        });
        columns.push(Column { data, nulls });
    }
    let key_ok = |c: usize, k: ColumnKind| specs.get(c).is_some_and(|s| s.kind == k);
    if !key_ok(code_col, ColumnKind::Text) || !key_ok(date_col, ColumnKind::Date) {
        return Err(corrupt("key columns are missing or of the wrong type"));
    }
    let codes = match &columns[code_col].data {
        ColumnData::Text { dict, codes } => (codes.clone(), dict.len()),
        _ => return Err(corrupt("the code column is not held as text")),
    };
    for c in &mut columns {
        c.data.link_codes(&codes.0, codes.1).map_err(corrupt)?;
    }
    let info = LoadInfo {
        generation,
        loaded_at: UNIX_EPOCH + Duration::from_micros(at_us),
        load_ms,
        provenance: Provenance {
            kind,
            detail,
            window_days,
            skipped,
        },
        read: super::Read {
            kind: super::ReadKind::Snapshot,
            rows: rows as u64,
            dates: 0,
            dropped_dates: 0,
            reread_dates: 0,
        },
    };
    // Rows a refresh retired stay retired; such a store's rows are kept
    // where they are (a full load orders them again: see Store::build).
    let retired = match i.pod::<u8>()? {
        0 => None,
        1 => Some(read_bitmap(i, rows)?),
        _ => return Err(corrupt("bad retired-rows flag")),
    };
    let mut store = Store::build(
        specs, columns, rows, code_col, date_col, info, true, retired,
    );
    store.info.read.dates = store.dates().len() as u64;
    Ok(store)
}

/// Writes `store` to `dir/store.snapshot` atomically; returns its path.
pub fn write(store: &Store, dir: &Path) -> Result<PathBuf, SnapshotError> {
    write_cancellable(store, dir, &AtomicBool::new(false))
}

/// The temporary name of the next write: `store.snapshot.tmp.<pid>.<n>`,
/// unique within the directory even if two writes ever overlapped.
fn temp_path(dir: &Path) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{FILE_NAME}.tmp.{}.{n}", std::process::id()))
}

/// [`write`], stopped (temporary file removed, previous snapshot untouched)
/// as soon as `cancel` is set, checked between blocks of at most 1 MiB.
pub fn write_cancellable(
    store: &Store,
    dir: &Path,
    cancel: &AtomicBool,
) -> Result<PathBuf, SnapshotError> {
    let path = dir.join(FILE_NAME);
    let tmp = temp_path(dir);
    let result = (|| -> io::Result<()> {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        let mut o = Out {
            w,
            crc: crc32fast::Hasher::new(),
            buf: Vec::with_capacity(1 << 16),
            cancel,
        };
        write_body(&mut o, store)?;
        o.flush_buf()?;
        let crc = o.crc.finalize();
        let mut w = o.w;
        w.write_all(&crc.to_le_bytes())?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        // The last moment to stop: after the rename the new file is the
        // snapshot (complete and synced, so nothing is lost by going on).
        if cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        std::fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    Ok(path)
}

/// Reads a snapshot written by [`write`].
pub fn read(path: &Path) -> Result<Store, SnapshotError> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut head = [0u8; 12];
    r.read_exact(&mut head)
        .map_err(|_| corrupt("shorter than its header"))?;
    if &head[..8] != MAGIC {
        return Err(SnapshotError::Magic);
    }
    let found = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    if found != VERSION {
        return Err(SnapshotError::Version { found });
    }
    let body = size
        .checked_sub(12 + 4)
        .ok_or(corrupt("shorter than its header"))?;
    let mut i = In {
        r,
        crc: crc32fast::Hasher::new(),
        left: body,
    };
    let store = read_body(&mut i)?;
    if i.left != 0 {
        return Err(corrupt("bytes after the last column"));
    }
    let computed = i.crc.finalize();
    let mut tail = [0u8; 4];
    i.r.read_exact(&mut tail)?;
    let stored = u32::from_le_bytes(tail);
    if stored != computed {
        return Err(SnapshotError::Checksum { stored, computed });
    }
    Ok(store)
}

/// Removes temporary files left by a write that never finished (the
/// process was killed mid-write); returns how many.
pub fn remove_leftovers(dir: &Path) -> usize {
    let prefix = format!("{FILE_NAME}.tmp.");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .filter(|e| std::fs::remove_file(e.path()).is_ok())
                .count()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::DemoParams;

    fn demo_store() -> Store {
        // Enough rows (5,000) that the share counts are held by stock.
        let mut p = DemoParams::seed();
        p.stocks = 1000;
        p.days = 5;
        p.suspended = 3;
        crate::demo::load(&p, 7).unwrap()
    }

    fn rows_json(s: &Store) -> Vec<String> {
        let all: Vec<usize> = (0..s.specs().len()).collect();
        s.codes()
            .flat_map(|c| {
                let id = s.code_id(c).unwrap();
                (0..s.dates().len()).filter_map(move |d| s.row(id, d))
            })
            .map(|r| {
                let mut out = String::new();
                for &c in &all {
                    crate::store::json::write_value(&mut out, &s.columns()[c], r);
                    out.push(',');
                }
                out
            })
            .collect()
    }

    #[test]
    fn round_trip_equals_the_loaded_store() {
        let dir = tempdir();
        let s = demo_store();
        let path = write(&s, &dir).unwrap();
        let back = read(&path).unwrap();
        let by_stock = |s: &Store| {
            s.columns()
                .iter()
                .filter(|c| c.data.layout().ends_with("by-stock"))
                .count()
        };
        assert!(by_stock(&s) >= 2, "the share counts are held by stock");
        assert_eq!(by_stock(&back), by_stock(&s));
        assert_eq!(back.specs(), s.specs());
        assert_eq!(back.columns(), s.columns());
        assert_eq!(back.dates(), s.dates());
        assert_eq!(back.info.generation, 7);
        assert_eq!(back.info.provenance, s.info.provenance);
        assert_eq!(rows_json(&back), rows_json(&s));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn corrupt_truncated_and_old_files_are_refused() {
        let dir = tempdir();
        let s = demo_store();
        let path = write(&s, &dir).unwrap();
        let bytes = std::fs::read(&path).unwrap();

        let mut flipped = bytes.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x55;
        std::fs::write(&path, &flipped).unwrap();
        assert!(read(&path).is_err(), "a flipped byte must be caught");

        for cut in [5, 20, bytes.len() / 3, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(read(&path).is_err(), "truncated at {cut}");
        }

        let mut old = bytes.clone();
        old[8..12].copy_from_slice(&0u32.to_le_bytes());
        std::fs::write(&path, &old).unwrap();
        assert!(matches!(
            read(&path),
            Err(SnapshotError::Version { found: 0 })
        ));

        std::fs::write(&path, b"hello world, not a snapshot").unwrap();
        assert!(matches!(read(&path), Err(SnapshotError::Magic)));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_cancelled_write_leaves_the_previous_snapshot_and_no_temp_file() {
        let dir = tempdir();
        let s = demo_store();
        let path = write(&s, &dir).unwrap();
        let before = std::fs::read(&path).unwrap();
        let cancel = AtomicBool::new(true);
        assert!(write_cancellable(&s, &dir, &cancel).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [FILE_NAME], "{names:?}");
        // Two temporary names are never the same.
        assert_ne!(temp_path(&dir), temp_path(&dir));
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "stockd-snap-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
