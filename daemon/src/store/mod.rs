//! The columnar store: one typed buffer per column, rows held by (date,
//! code) so that one date's rows are adjacent, a dense (code, date) → row
//! index, and per-date row ranges for ranking without touching other
//! dates. A store is immutable once built; a new one is built off to the
//! side ([`StoreBuilder`]), or made from the one in service plus newer
//! dates' rows sharing its column buffers ([`Store::append`], see
//! [`shared`]), and swapped in whole by the caller.

pub mod column;
pub mod copy;
pub mod decode;
pub mod json;
pub mod numeric;
pub mod packed;
pub mod schema;
pub mod shared;
pub mod snapshot;
pub mod time;

use column::{Bitmap, Column, ColumnBuilder, ColumnData, DecodeError};
use schema::{ColumnKind, ColumnSpec};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::SystemTime;

/// Marks "no row" in the dense index.
const NONE: u32 = u32::MAX;

/// Most rows one store may hold (the index is u32).
pub const MAX_ROWS: usize = (u32::MAX - 1) as usize;

/// Where a store's data came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// `demo` or `postgres`.
    pub kind: &'static str,
    /// The table, or a description of the demo data set.
    pub detail: String,
    /// Trading days the window was asked to hold (0 = all).
    pub window_days: u32,
    /// Columns of the table not loaded, with their SQL type.
    pub skipped: Vec<(String, String)>,
}

/// Facts about one load, fixed when the store is built.
#[derive(Debug, Clone)]
pub struct LoadInfo {
    pub generation: u64,
    pub loaded_at: SystemTime,
    pub load_ms: u64,
    pub provenance: Provenance,
    /// What the load read (filled in when the store is built).
    pub read: Read,
}

/// How a generation was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    /// Every row read from the source (or made, for the demo data).
    Full,
    /// Only the rows of dates after the previous generation's last; the
    /// rest is shared with it.
    Incremental,
    /// Read back from a snapshot file.
    Snapshot,
}

impl ReadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadKind::Full => "full",
            ReadKind::Incremental => "incremental",
            ReadKind::Snapshot => "snapshot",
        }
    }
}

/// What one load read: its kind, and the rows and trading dates it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    pub kind: ReadKind,
    pub rows: u64,
    pub dates: u64,
    /// Dates an incremental refresh took out: the window's oldest.
    pub dropped_dates: u64,
    /// Dates held before that an incremental refresh read again (their
    /// rows changed); counted in `dates` too.
    pub reread_dates: u64,
}

impl Read {
    /// A full load; the counts are filled in when the store is built.
    pub const FULL: Read = Read {
        kind: ReadKind::Full,
        rows: 0,
        dates: 0,
        dropped_dates: 0,
        reread_dates: 0,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key column '{name}' is missing from the table; columns are: {known}")]
    MissingKey { name: String, known: String },
    #[error("key column '{name}' has type {ty}; it must be {want}")]
    KeyType {
        name: String,
        ty: String,
        want: &'static str,
    },
    #[error("row {row}, column '{column}': {source}")]
    Decode {
        row: usize,
        column: String,
        source: DecodeError,
    },
    #[error("row {row} has {got} fields, the table has {want}")]
    FieldCount { row: usize, got: usize, want: usize },
    #[error("more than {MAX_ROWS} rows")]
    TooManyRows,
    #[error("malformed COPY stream: {0}")]
    Copy(&'static str),
}

/// Rows of each bit-packed column a load encodes at a time (16 blocks),
/// on another thread while the COPY goes on. Raw, a year's 1.3 million
/// rows take about 700 MiB (8 bytes a double) beside the store being
/// served; encoded chunks take about what the new store will.
const CHUNK: usize = 16 * packed::BLOCK;
// A row's place in its chunk is kept as a u16 (`StoreBuilder::chunk_at`).
const _: () = assert!(CHUNK <= 1 << 16);

/// Loads expected to be smaller than this (32 chunks) keep raw builders and
/// encode once: their builders are small (a 30-day window's are about 60
/// MiB), and the chunks' freed memory left the daemon 5–10 MiB larger
/// after such a load.
const CHUNKED_FROM: usize = 32 * CHUNK;

/// Accumulates rows, then freezes them into a [`Store`].
pub struct StoreBuilder {
    specs: Vec<ColumnSpec>,
    builders: Vec<ColumnBuilder>,
    nulls: Vec<Option<Bitmap>>,
    rows: usize,
    code_col: usize,
    date_col: usize,
    /// The bit-packed columns but the keys: encoded a [`CHUNK`] at a time.
    chunked: Vec<usize>,
    /// Each column's chunks so far, encoded one after another into one
    /// column (`None` for the others, and while a thread holds them).
    pieces: Vec<Option<ColumnData>>,
    /// Where each row of the sealed chunks went in its chunk: a chunk is
    /// put in (date, code) order before it is encoded (see
    /// [`StoreBuilder::seal_chunk`]), the other columns stay as read.
    chunk_at: Vec<u16>,
    /// Who encodes the chunks: decided at the first one.
    encoding: Encoding,
}

/// Who encodes a load's chunks.
enum Encoding {
    /// No chunk yet.
    NotStarted,
    /// The encoder thread, which holds the pieces until the load ends.
    Thread(Encoder),
    /// The load's own thread (the system refused another one).
    Here,
}

/// One chunk's raw columns and the order to encode them in.
type ChunkJob = (Vec<(usize, ColumnBuilder)>, Vec<u32>);

/// Encodes a chunk: each column put in the chunk's order, then encoded
/// without room for appends (the pieces are read once, then dropped).
fn encode_chunk((raw, order): ChunkJob) -> Vec<(usize, ColumnData)> {
    shared::tight(|| {
        raw.into_iter()
            .map(|(i, mut b)| {
                b.permute(&order);
                (i, b.finish())
            })
            .collect()
    })
}

/// A chunk's encoded columns appended to each column's pieces so far.
fn absorb(pieces: &mut [Option<ColumnData>], chunk: Vec<(usize, ColumnData)>) {
    for (i, d) in chunk {
        pieces[i] = Some(match pieces[i].take() {
            None => d,
            // A column's chunks come from builders of one type, which
            // always append to each other (numbers of other denominators
            // or exponents are encoded again). Were that broken, the load
            // fails (the panic reaches the load's task) rather than lose
            // the rows before.
            Some(a) => a
                .append(&d, None)
                .expect("chunks of one column are of one PostgreSQL type"),
        });
    }
}

/// The one thread that encodes a load's chunks, one at a time, while the
/// COPY goes on, and appends each to the chunks before it.
///
/// One thread for the whole load, and one growing column a column, not a
/// thread and a small piece per chunk and column: a thread that ended left
/// its allocator pages behind (part live pieces, part freed scratch), and
/// 81 columns' pieces shared each page, so freeing one column's pieces at
/// the end freed no page. A year's full reload peaked 733 MiB over the
/// steady RSS so, for a 375 MiB store.
struct Encoder {
    /// A rendezvous: a send waits until the thread takes the chunk, so at
    /// most one chunk is encoded while the next is read.
    jobs: std::sync::mpsc::SyncSender<ChunkJob>,
    handle: std::thread::JoinHandle<Vec<Option<ColumnData>>>,
}

impl Encoder {
    /// The thread, or `None` when the system refuses one.
    fn spawn(columns: usize) -> Option<Encoder> {
        let (jobs, rx) = std::sync::mpsc::sync_channel::<ChunkJob>(0);
        let handle = std::thread::Builder::new()
            .name("stockd-encode".into())
            .spawn(move || {
                let mut pieces = vec![None; columns];
                for job in rx {
                    absorb(&mut pieces, encode_chunk(job));
                }
                pieces
            })
            .ok()?;
        Some(Encoder { jobs, handle })
    }

    /// The pieces, once every chunk sent is encoded.
    fn join(self) -> Vec<Option<ColumnData>> {
        drop(self.jobs);
        self.handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

fn find_key(specs: &[ColumnSpec], name: &str, want: ColumnKind) -> Result<usize, StoreError> {
    let idx = specs
        .iter()
        .position(|s| s.name == name)
        .ok_or_else(|| StoreError::MissingKey {
            name: name.to_string(),
            known: specs
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    if specs[idx].kind != want {
        return Err(StoreError::KeyType {
            name: name.to_string(),
            ty: specs[idx].pg_type.clone(),
            want: if want == ColumnKind::Date {
                "date"
            } else {
                "text, varchar or char"
            },
        });
    }
    Ok(idx)
}

impl StoreBuilder {
    /// `code` and `date` name the key columns (text and date).
    /// `capacity` pre-sizes the buffers (an estimate is fine; capped).
    pub fn new(
        specs: Vec<ColumnSpec>,
        code: &str,
        date: &str,
        capacity: usize,
    ) -> Result<StoreBuilder, StoreError> {
        let code_col = find_key(&specs, code, ColumnKind::Text)?;
        let date_col = find_key(&specs, date, ColumnKind::Date)?;
        let capacity = capacity.min(16 << 20);
        let chunked: Vec<usize> = match capacity >= CHUNKED_FROM {
            true => (0..specs.len())
                .filter(|&i| i != code_col && i != date_col && ColumnBuilder::packs(specs[i].kind))
                .collect(),
            false => Vec::new(),
        };
        Ok(StoreBuilder {
            builders: specs
                .iter()
                .enumerate()
                .map(|(i, s)| match chunked.contains(&i) {
                    true => ColumnBuilder::new(s.kind, capacity.min(CHUNK)),
                    false => ColumnBuilder::new(s.kind, capacity),
                })
                .collect(),
            nulls: vec![None; specs.len()],
            pieces: vec![None; specs.len()],
            chunk_at: Vec::new(),
            specs,
            rows: 0,
            code_col,
            date_col,
            chunked,
            encoding: Encoding::NotStarted,
        })
    }

    /// Hands the bit-packed columns' last [`CHUNK`] rows to the encoder
    /// thread, which encodes them while the COPY goes on; the hand-over
    /// waits until it has finished the chunk before, so at most one chunk's
    /// raw values are in flight.
    ///
    /// The chunk is encoded in (date, code id) order, not as read: a table
    /// whose rows are not stored by date (rows updated or re-inserted since)
    /// gives chunks of many dates, and a block of many dates' rows is wider
    /// (timestamps, ids) than one of a single date's, as the finished store
    /// holds them.
    fn seal_chunk(&mut self) {
        let start = self.rows - CHUNK;
        let order = self.chunk_order(start);
        self.chunk_at.resize(start + CHUNK, 0);
        for (to, &from) in order.iter().enumerate() {
            // CHUNK is at most 2^16 (asserted at compile time).
            self.chunk_at[start + from as usize] = to as u16;
        }
        let raw: Vec<(usize, ColumnBuilder)> = self
            .chunked
            .iter()
            .map(|&i| {
                let fresh = ColumnBuilder::new(self.specs[i].kind, CHUNK);
                (i, std::mem::replace(&mut self.builders[i], fresh))
            })
            .collect();
        if let Encoding::NotStarted = self.encoding {
            self.encoding = match Encoder::spawn(self.specs.len()) {
                Some(e) => Encoding::Thread(e),
                None => Encoding::Here,
            };
        }
        let job = match &self.encoding {
            Encoding::Thread(e) => match e.jobs.send((raw, order)) {
                Ok(()) => return,
                // The thread is gone, so it panicked: joining it raises
                // the panic here, and the load fails.
                Err(std::sync::mpsc::SendError(job)) => {
                    self.collect_sealed();
                    job
                }
            },
            _ => (raw, order),
        };
        absorb(&mut self.pieces, encode_chunk(job));
    }

    /// The rows `start..start + CHUNK` (chunk positions) in (date, code id)
    /// order, read from the key columns' builders (never chunked).
    fn chunk_order(&self, start: usize) -> Vec<u32> {
        let codes: &[u32] = match &self.builders[self.code_col] {
            ColumnBuilder::Text { codes, .. } => &codes[start..start + CHUNK],
            _ => &[],
        };
        let dates: &[i32] = match &self.builders[self.date_col] {
            ColumnBuilder::Date(v) => &v[start..start + CHUNK],
            _ => &[],
        };
        let mut order: Vec<u32> = (0..CHUNK as u32).collect();
        if dates.len() == CHUNK && codes.len() == CHUNK {
            order.sort_by_key(|&r| (dates[r as usize], codes[r as usize]));
        }
        order
    }

    /// Where row `r` (as read) is in the concatenated pieces.
    #[inline]
    fn piece_row(chunk_at: &[u16], r: usize) -> usize {
        match chunk_at.get(r) {
            Some(&at) => r / CHUNK * CHUNK + at as usize,
            None => r,
        }
    }

    /// Chunks encoded so far.
    fn sealed(&self) -> usize {
        self.chunk_at.len() / CHUNK
    }

    /// Every chunk's pieces, from the encoder thread if there is one.
    fn collect_sealed(&mut self) {
        if let Encoding::Thread(e) = std::mem::replace(&mut self.encoding, Encoding::Here) {
            self.pieces = e.join();
        }
    }

    pub fn columns(&self) -> usize {
        self.specs.len()
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes the builder holds so far.
    pub fn heap_bytes(&self) -> usize {
        self.builders
            .iter()
            .map(ColumnBuilder::heap_bytes)
            .sum::<usize>()
            + self
                .pieces
                .iter()
                .flatten()
                .map(ColumnData::heap_bytes)
                .sum::<usize>()
            + self
                .nulls
                .iter()
                .flatten()
                .map(Bitmap::heap_bytes)
                .sum::<usize>()
    }

    /// Appends one row of binary fields, one per column, in column order.
    /// On error the builder must be discarded (the row may be half pushed).
    pub fn push_row<'a>(
        &mut self,
        fields: impl IntoIterator<Item = Option<&'a [u8]>>,
    ) -> Result<(), StoreError> {
        if self.rows >= MAX_ROWS {
            return Err(StoreError::TooManyRows);
        }
        let mut n = 0;
        for (i, field) in fields.into_iter().enumerate() {
            if i >= self.builders.len() {
                return Err(StoreError::FieldCount {
                    row: self.rows,
                    got: i + 1,
                    want: self.builders.len(),
                });
            }
            self.builders[i]
                .push(field)
                .map_err(|source| StoreError::Decode {
                    row: self.rows,
                    column: self.specs[i].name.clone(),
                    source,
                })?;
            match (&mut self.nulls[i], field.is_none()) {
                (Some(bits), is_null) => bits.push(is_null),
                (slot @ None, true) => {
                    let mut bits = Bitmap::with_capacity(self.rows + 1);
                    for _ in 0..self.rows {
                        bits.push(false);
                    }
                    bits.push(true);
                    *slot = Some(bits);
                }
                (None, false) => {}
            }
            n = i + 1;
        }
        if n != self.builders.len() {
            return Err(StoreError::FieldCount {
                row: self.rows,
                got: n,
                want: self.builders.len(),
            });
        }
        self.rows += 1;
        if self.rows.is_multiple_of(CHUNK) && !self.chunked.is_empty() {
            self.seal_chunk();
        }
        Ok(())
    }

    /// Freezes the columns and builds the indexes. The key columns are
    /// finished first: their index gives the (date, code) order, and every
    /// other column is put in that order before it is encoded whole (a
    /// chunked load's columns are read back from their chunks to be so).
    pub fn finish(mut self, mut info: LoadInfo) -> Store {
        let rows = self.rows;
        let (code_col, date_col) = (self.code_col, self.date_col);
        // When chunks were encoded, the rows after the last one are encoded
        // too, and each column is put in (date, code) order from its pieces:
        // their encoded values packed again in that order where the pieces'
        // codec is the one a single pass would choose, else read back and
        // encoded again as a whole (see `ColumnBuilder::regather`); a load
        // expected smaller than [`CHUNKED_FROM`] is encoded once, from its
        // builders.
        self.collect_sealed();
        let chunked = self.sealed() > 0;
        if chunked && !rows.is_multiple_of(CHUNK) {
            let rest: Vec<(usize, ColumnBuilder)> = self
                .chunked
                .iter()
                .map(|&i| {
                    (
                        i,
                        std::mem::replace(
                            &mut self.builders[i],
                            ColumnBuilder::Bool(Bitmap::default()),
                        ),
                    )
                })
                .collect();
            let rest = in_parallel(rest, |(i, b)| (i, shared::tight(|| b.finish())));
            absorb(&mut self.pieces, rest);
        }
        let kinds: Vec<ColumnKind> = self.specs.iter().map(|s| s.kind).collect();
        let chunk_at = std::mem::take(&mut self.chunk_at);
        let mut pieces = std::mem::take(&mut self.pieces);
        let mut builders = std::mem::take(&mut self.builders);
        let mut nulls: Vec<Option<Bitmap>> = self
            .nulls
            .into_iter()
            .map(|n| {
                n.map(|mut bits| {
                    while bits.len() < rows {
                        bits.push(false);
                    }
                    bits
                })
            })
            .collect();
        // Codes numbered in code order rise along a date's rows (see
        // `Codes`); the other text columns are numbered after them.
        builders[code_col].renumber(None);
        let mut key = |i: usize| Column {
            data: std::mem::replace(&mut builders[i], ColumnBuilder::Bool(Bitmap::default()))
                .finish(),
            nulls: nulls[i].take(),
        };
        let (code, date) = (key(code_col), key(date_col));
        let mut keys = Keys::of(&code, &date, rows, None);
        let perm = keys.order(true);
        let mut done = [(code_col, Some(code)), (date_col, Some(date))];
        enum Source {
            Raw(ColumnBuilder),
            Pieces(ColumnData),
        }
        let mut todo: Vec<(usize, Source, Option<Bitmap>)> = Vec::new();
        let mut columns: Vec<Option<Column>> = builders
            .into_iter()
            .zip(nulls)
            .enumerate()
            .map(|(i, (b, n))| {
                let key = done.iter_mut().find(|(k, _)| *k == i);
                if let Some(c) = key.and_then(|(_, c)| c.take()) {
                    return Some(match &perm {
                        Some(p) => c.permute(p),
                        None => c,
                    });
                }
                match pieces[i].take() {
                    None => todo.push((i, Source::Raw(b), n)),
                    Some(p) => todo.push((i, Source::Pieces(p), n)),
                }
                None
            })
            .collect();
        let by_code = match columns[code_col].as_ref().map(|c| &c.data) {
            Some(ColumnData::Text { codes, .. }) => Some(codes.clone()),
            _ => None,
        };
        // Each column is put in order and encoded on its own, so the
        // columns are shared out among the cores (the COPY is drained by
        // now): a year's 81 columns take half the time on 2 cores, for at
        // most one more column's builder and encoding held at once.
        let finish = |(i, src, mut n): (usize, Source, Option<Bitmap>)| {
            let data = match src {
                Source::Raw(mut b) => {
                    if let Some(p) = &perm {
                        b.permute(p);
                    }
                    b.renumber(by_code.as_ref());
                    b.finish()
                }
                Source::Pieces(pieces) => {
                    let at = |r: usize| StoreBuilder::piece_row(&chunk_at, r);
                    let order = || -> Box<dyn Iterator<Item = usize> + '_> {
                        match &perm {
                            Some(p) => Box::new(p.iter().map(move |&r| at(r as usize))),
                            None => Box::new((0..rows).map(at)),
                        }
                    };
                    // The column encoded as its pieces are, or its values
                    // read back, to be encoded again.
                    let gathered = ColumnBuilder::regather(&pieces, order(), rows)
                        .ok_or_else(|| ColumnBuilder::gather(kinds[i], &pieces, order(), rows));
                    drop(pieces);
                    // The pieces were made on the encoder thread, which has
                    // ended: their pages go back to the OS when a thread
                    // collects, not some time later, while the new columns
                    // grow beside them.
                    // SAFETY: mi_collect only walks mimalloc's own heaps.
                    unsafe { libmimalloc_sys::mi_collect(true) };
                    gathered.unwrap_or_else(ColumnBuilder::finish)
                }
            };
            if let Some(p) = &perm {
                n = n.map(|bits| bits.permute(p));
            }
            (
                i,
                Column {
                    data,
                    nulls: n.map(Bitmap::sparse),
                },
            )
        };
        for (i, c) in in_parallel(todo, finish) {
            columns[i] = Some(c);
        }
        let columns = by_stock(columns.into_iter().flatten().collect(), code_col);
        info.read.rows = rows as u64;
        let mut store = Store::assemble(
            self.specs, columns, rows, code_col, date_col, info, keys, None,
        );
        store.info.read.dates = store.dates.len() as u64;
        packed::release_scratch();
        store
    }
}

/// `columns` with each column of decimals held by stock where that is
/// smaller ([`column::Decimals::by_code`]), judged on all cores.
fn by_stock(columns: Vec<Column>, code_col: usize) -> Vec<Column> {
    let (codes, entries) = match columns.get(code_col).map(|c| &c.data) {
        Some(ColumnData::Text { dict, codes }) => (codes.clone(), dict.len()),
        _ => return columns,
    };
    // Decoded once for all columns.
    let ids: Vec<u32> = (0..codes.len()).map(|r| codes.get(r)).collect();
    let one =
        |(i, c): (usize, Column)| match c.data.by_code((&codes, entries), &ids, c.nulls.as_ref()) {
            Some(data) => (
                i,
                Column {
                    data,
                    nulls: c.nulls,
                },
            ),
            None => (i, c),
        };
    let mut out = in_parallel(columns.into_iter().enumerate().collect(), one);
    out.sort_unstable_by_key(|&(i, _)| i);
    out.into_iter().map(|(_, c)| c).collect()
}

/// `f` applied to every item, on up to as many threads as there are cores
/// (each takes the next item left), in no particular order.
fn in_parallel<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let queue = std::sync::Mutex::new(items.into_iter());
    let next = || queue.lock().ok().and_then(|mut q| q.next());
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    while let Some(item) = next() {
                        out.push(f(item));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// A store's key index, computed from its code and date columns: which
/// row holds each (code, date), the dates and codes held.
struct Keys {
    rows: usize,
    code_dict_len: usize,
    dates: Vec<i32>,
    date_slot: Vec<u32>,
    matrix: Vec<u32>,
    unindexed: usize,
    code_ids: HashMap<Box<str>, u32>,
    code_order: Vec<u32>,
    date_off: Vec<u32>,
    date_rows: Vec<u32>,
}

impl Keys {
    /// The index of `rows` rows, leaving out the rows set in `retired`.
    fn of(code: &Column, date: &Column, rows: usize, retired: Option<&Bitmap>) -> Keys {
        let (code_dict_len, code_of): (usize, Box<dyn Fn(usize) -> u32>) = match &code.data {
            ColumnData::Text { dict, codes } => (dict.len(), Box::new(|r| codes.get(r))),
            _ => (0, Box::new(|_| NONE)),
        };
        let date_of = |r: usize| match &date.data {
            ColumnData::Date(v) => v.get(r) as i32,
            _ => 0,
        };
        let valid = |r: usize| {
            !code.is_null(r) && !date.is_null(r) && !matches!(date_of(r), i32::MIN | i32::MAX)
        };
        let held = |r: usize| retired.is_none_or(|b| !b.get(r));

        let mut dates: Vec<i32> = (0..rows)
            .filter(|&r| held(r) && valid(r))
            .map(date_of)
            .collect();
        dates.sort_unstable();
        dates.dedup();
        dates.shrink_to_fit();
        let first = dates.first().copied().unwrap_or(0);
        let span = dates
            .last()
            .map_or(0, |&l| (l as i64 - first as i64 + 1) as usize);
        let mut date_slot = vec![NONE; span];
        for (i, &d) in dates.iter().enumerate() {
            date_slot[(d - first) as usize] = i as u32;
        }

        let nd = dates.len();
        let mut matrix = vec![NONE; code_dict_len * nd];
        let mut unindexed = 0;
        for r in (0..rows).filter(|&r| held(r)) {
            if !valid(r) {
                unindexed += 1;
                continue;
            }
            let di = date_slot[(date_of(r) - first) as usize] as usize;
            let cell = &mut matrix[code_of(r) as usize * nd + di];
            if *cell != NONE {
                unindexed += 1; // a repeated (code, date): the later row wins
            }
            *cell = r as u32;
        }
        drop(code_of);

        let (code_ids, code_order) = match &code.data {
            ColumnData::Text { dict, .. } => {
                let mut ids = HashMap::with_capacity(dict.len());
                let mut order: Vec<u32> = Vec::with_capacity(dict.len());
                for c in 0..dict.len() {
                    if matrix[c * nd..(c + 1) * nd].iter().any(|&r| r != NONE) {
                        ids.insert(Box::from(dict.get(c)), c as u32);
                        order.push(c as u32);
                    }
                }
                order.sort_unstable_by(|&a, &b| dict.get(a as usize).cmp(dict.get(b as usize)));
                (ids, order)
            }
            _ => (HashMap::new(), Vec::new()),
        };

        let mut date_off = Vec::with_capacity(nd + 1);
        let mut date_rows = Vec::with_capacity(rows - unindexed);
        date_off.push(0u32);
        for di in 0..nd {
            for &c in &code_order {
                let r = matrix[c as usize * nd + di];
                if r != NONE {
                    date_rows.push(r);
                }
            }
            date_off.push(date_rows.len() as u32);
        }

        Keys {
            rows,
            code_dict_len,
            dates,
            date_slot,
            matrix,
            unindexed,
            code_ids,
            code_order,
            date_off,
            date_rows,
        }
    }

    /// The permutation that holds the rows by (date, code) — row i of the
    /// result is row `perm[i]` — with the index renumbered to it; `None`
    /// when the rows are already so held, or `reorder` is false.
    ///
    /// One date's rows are then adjacent in every column, which is what
    /// ranking, `stock.many` and the views read (in load order they are
    /// spread over the store), and a block of packed values holds one
    /// day's values of a column. The unindexed rows go first, in load
    /// order, so that indexing these columns again (a snapshot restore)
    /// finds the same rows and the same winner of a repeated key.
    fn order(&mut self, reorder: bool) -> Option<Vec<u32>> {
        if !reorder {
            return None;
        }
        let (rows, unindexed) = (self.rows, self.unindexed);
        let mut new_of = vec![NONE; rows];
        for (i, &r) in self.date_rows.iter().enumerate() {
            new_of[r as usize] = (unindexed + i) as u32;
        }
        for (next, slot) in new_of.iter_mut().filter(|s| **s == NONE).enumerate() {
            *slot = next as u32;
        }
        if new_of.iter().enumerate().all(|(i, &n)| n as usize == i) {
            return None;
        }
        let mut perm = vec![0u32; rows];
        for (old, &new) in new_of.iter().enumerate() {
            perm[new as usize] = old as u32;
        }
        for cell in self.matrix.iter_mut().filter(|c| **c != NONE) {
            *cell = new_of[*cell as usize];
        }
        for (i, r) in self.date_rows.iter_mut().enumerate() {
            *r = (unindexed + i) as u32;
        }
        Some(perm)
    }
}

/// Which codes have a row on each date: one bit per (date, code), in
/// code order, with the count of bits set before each word. A date's rows
/// are held in code order, so the row of (code, date) is the date's first
/// row plus the code's rank among that date's codes: O(1), a popcount.
///
/// A dense matrix of rows (4 bytes per code and date) took 5.3 MiB at
/// year scale, 4 bytes a row; this takes 1.5 bits per code and date.
struct Presence {
    /// Each code id's place in the code order; NONE for a code with no row.
    place: Vec<u32>,
    /// Words per date.
    words: usize,
    /// Date by date, bit p of word w = the code at place 64 × w + p has a
    /// row on that date.
    bits: Vec<u64>,
    /// Bits set in the date's words before this one.
    before: Vec<u32>,
}

impl Presence {
    /// From `matrix` (`matrix[code_id * dates + date_idx]` = row or NONE)
    /// and the codes with rows, in code order.
    fn of(matrix: &[u32], dates: usize, code_order: &[u32], code_ids: usize) -> Presence {
        let mut place = vec![NONE; code_ids];
        for (p, &c) in code_order.iter().enumerate() {
            place[c as usize] = p as u32;
        }
        let words = code_order.len().div_ceil(64);
        let mut bits = vec![0u64; words * dates];
        for (p, &c) in code_order.iter().enumerate() {
            let cells = &matrix[c as usize * dates..(c as usize + 1) * dates];
            for (di, _) in cells.iter().enumerate().filter(|(_, &r)| r != NONE) {
                bits[di * words + p / 64] |= 1 << (p % 64);
            }
        }
        let mut before = Vec::with_capacity(bits.len());
        for day in bits.chunks(words.max(1)) {
            let mut n = 0;
            for w in day {
                before.push(n);
                n += w.count_ones();
            }
        }
        Presence {
            place,
            words,
            bits,
            before,
        }
    }

    /// The rank of `code_id` among the codes with a row on date `di`, if
    /// it has one.
    #[inline]
    fn rank(&self, code_id: u32, di: usize) -> Option<usize> {
        let p = *self.place.get(code_id as usize)? as usize;
        if p == NONE as usize {
            return None;
        }
        let w = di.checked_mul(self.words)? + p / 64;
        let word = *self.bits.get(w)?;
        let bit = 1u64 << (p % 64);
        (word & bit != 0).then(|| (self.before[w] + (word & (bit - 1)).count_ones()) as usize)
    }

    fn bytes(&self) -> usize {
        self.place.capacity() * 4 + self.bits.capacity() * 8 + self.before.capacity() * 4
    }
}

/// Every date's rows, in date then code order.
enum DateRows {
    /// The rows from this one on: the store holds its rows by (date,
    /// code), as every full load leaves it, so the list is not kept
    /// (5 MiB at year scale).
    Run(u32),
    List(Vec<u32>),
}

impl DateRows {
    fn of(rows: Vec<u32>) -> DateRows {
        let first = rows.first().copied().unwrap_or(0);
        let run = rows
            .iter()
            .enumerate()
            .all(|(i, &r)| r as usize == first as usize + i);
        if run {
            DateRows::Run(first)
        } else {
            DateRows::List(rows)
        }
    }
}

/// One date's rows, in code order (see [`Store::rows_on`]).
#[derive(Debug, Clone)]
pub enum RowsOn<'a> {
    Run(std::ops::Range<u32>),
    List(&'a [u32]),
}

impl RowsOn<'_> {
    pub fn len(&self) -> usize {
        match self {
            RowsOn::Run(r) => r.len(),
            RowsOn::List(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn to_vec(&self) -> Vec<u32> {
        self.clone().collect()
    }
}

impl Iterator for RowsOn<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        match self {
            RowsOn::Run(r) => r.next(),
            RowsOn::List(v) => {
                let (&first, rest) = v.split_first()?;
                *v = rest;
                Some(first)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl ExactSizeIterator for RowsOn<'_> {}

/// An immutable, fully indexed store.
pub struct Store {
    specs: Vec<ColumnSpec>,
    columns: Vec<Column>,
    rows: usize,
    code_col: usize,
    date_col: usize,
    by_name: HashMap<String, usize>,
    /// Pre-escaped `"name":` object keys, one per column.
    json_keys: Vec<String>,
    /// Trading dates held, ascending (PostgreSQL days).
    dates: Vec<i32>,
    /// `date_slot[d - dates[0]]` = index into `dates`, or NONE.
    date_slot: Vec<u32>,
    /// Rows of date i are `date_off[i]..date_off[i+1]` of `date_rows`
    /// (counted from its first row when it is a run), by code.
    date_off: Vec<u32>,
    date_rows: DateRows,
    /// Code string → code id (the code column's dictionary id).
    code_ids: HashMap<Box<str>, u32>,
    /// Code ids that have at least one row, sorted by code.
    code_order: Vec<u32>,
    /// Which codes have a row on each date (see [`Presence`]).
    presence: Presence,
    /// Latest row of each code id among the served dates, or NONE.
    latest: Vec<u32>,
    /// Dates `dates[..served]` are complete and answer requests without a
    /// date; later ones are pending (held, served only when asked for by
    /// date). See [`Store::hold_back_after`].
    served: usize,
    /// Rows dropped from the index: NULL key, or a repeated (code, date).
    unindexed: usize,
    /// Rows still in the column buffers (shared with older generations)
    /// that are no longer this store's: dates the window dropped, or
    /// dates a refresh read again ([`Store::retiring`]). `None`: none.
    retired: Option<Bitmap>,
    retired_rows: usize,
    /// One figure per date that a view derives from the date's rows and
    /// keeps for this generation (see [`Store::per_date`]).
    memo: DateMemo,
    pub info: LoadInfo,
}

/// One `u32` per date held, for one key (the columns it was derived
/// from); [`NONE`] until asked for.
struct DateMemo {
    key: AtomicU64,
    values: Box<[AtomicU32]>,
}

/// Rows a refresh takes out of a store: see [`Store::retiring`].
pub struct Retiring {
    /// Every row out of the store afterwards (those already out too).
    bits: Bitmap,
    /// Rows out of the store afterwards.
    pub out: usize,
    /// Rows that stay.
    pub left: usize,
    /// Dates held now that leave because they are before `from`.
    pub dates: usize,
    /// Dates asked to be read again.
    reread: usize,
}

impl Store {
    /// The rows of this store that stay when the dates before `from`
    /// (a window that moved) and `dates` (dates a refresh reads again)
    /// leave it; see [`Store::append`].
    pub fn retiring(&self, from: Option<i32>, dates: &[i32]) -> Retiring {
        let mut dates = dates.to_vec();
        dates.sort_unstable();
        let date = &self.columns[self.date_col];
        let mut bits = Bitmap::with_capacity(self.rows);
        let mut out = 0;
        if let ColumnData::Date(v) = &date.data {
            for (r, d) in v.iter().enumerate() {
                let d = d as i32;
                let held = self.is_held(r);
                let dated = held && !date.is_null(r);
                let before = dated && from.is_some_and(|f| d < f);
                let gone = !held || before || (dated && dates.binary_search(&d).is_ok());
                out += gone as usize;
                bits.push(gone);
            }
        }
        Retiring {
            bits,
            out,
            left: self.rows - out,
            dates: from.map_or(0, |f| self.dates.partition_point(|&d| d < f)),
            reread: dates.len(),
        }
    }

    /// A new generation: this store's rows followed by `more`'s, whose
    /// dates all come after this store's last. The columns share this
    /// store's buffers where they can ([`Column::append`]), so it costs
    /// about `more`'s memory and new indexes, not a second store. `None`
    /// when `more` is not the same table (columns, types, keys) or has a
    /// date that is not newer: the caller then loads in full.
    ///
    /// With `retiring` ([`Store::retiring`]), the rows it names leave the
    /// new generation's index (they stay in the shared buffers until a
    /// full load), and `more` may hold the dates they leave: a day read
    /// again after an edit.
    pub fn append(&self, more: Store, info: LoadInfo, retiring: Option<Retiring>) -> Option<Store> {
        let store = self.append_packed(more, info, retiring);
        packed::release_scratch();
        store
    }

    fn append_packed(
        &self,
        more: Store,
        mut info: LoadInfo,
        retiring: Option<Retiring>,
    ) -> Option<Store> {
        if more.specs != self.specs
            || more.code_col != self.code_col
            || more.date_col != self.date_col
            || more.retired.is_some()
        {
            return None;
        }
        let (retired, dropped, reread) = match retiring {
            Some(r) => (Some(r.bits), r.dates, r.reread),
            None => (self.retired.clone(), 0, 0),
        };
        // A date held before may come again only when its rows leave.
        if let (Some(&last), Some(&first)) = (self.dates.last(), more.dates.first()) {
            let still_held = |d: i32| {
                self.rows_on_date(d)
                    .any(|r| retired.as_ref().is_none_or(|b| !b.get(r as usize)))
            };
            if first <= last && more.dates.iter().any(|&d| still_held(d)) {
                return None;
            }
        }
        let rows = self
            .rows
            .checked_add(more.rows)
            .filter(|&r| r <= MAX_ROWS)?;
        // The code column first: values held by stock take its codes.
        let code = self.columns[self.code_col].append(&more.columns[self.code_col], None)?;
        let codes = match &code.data {
            ColumnData::Text { dict, codes } => Some((codes.clone(), dict.len())),
            _ => None,
        };
        let mut code = Some(code);
        let columns = self
            .columns
            .iter()
            .zip(&more.columns)
            .enumerate()
            .map(|(i, (a, b))| match i == self.code_col {
                true => code.take(),
                false => a.append(b, codes.as_ref().map(|(c, n)| (c, *n))),
            })
            .collect::<Option<Vec<Column>>>()?;
        info.read = Read {
            kind: ReadKind::Incremental,
            rows: more.rows as u64,
            dates: more.dates.len() as u64,
            dropped_dates: dropped as u64,
            reread_dates: reread as u64,
        };
        let retired = retired.map(|b| Bitmap::concat(Some(&b), self.rows, None, more.rows));
        // The rows stay where they are: this store's by (date, code), then
        // `more`'s, also by (date, code) with its unindexed rows first, so
        // a repeated key's later row still wins when indexed again.
        Some(Store::build(
            self.specs.clone(),
            columns,
            rows,
            self.code_col,
            self.date_col,
            info,
            false,
            retired,
        ))
    }

    /// Indexes `columns`, leaving out the rows set in `retired`; with
    /// `reorder` (and nothing retired), first moves their rows into (date,
    /// code) order, unindexed rows first.
    #[allow(clippy::too_many_arguments)]
    fn build(
        specs: Vec<ColumnSpec>,
        columns: Vec<Column>,
        rows: usize,
        code_col: usize,
        date_col: usize,
        info: LoadInfo,
        reorder: bool,
        retired: Option<Bitmap>,
    ) -> Store {
        let retired = retired.filter(|b| b.count_ones() > 0);
        let mut keys = Keys::of(
            &columns[code_col],
            &columns[date_col],
            rows,
            retired.as_ref(),
        );
        let columns = match keys.order(reorder && retired.is_none()) {
            None => columns,
            Some(perm) => columns.into_iter().map(|c| c.permute(&perm)).collect(),
        };
        Store::assemble(
            specs, columns, rows, code_col, date_col, info, keys, retired,
        )
    }

    /// The store of `columns` (rows in their final order) and their `keys`.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        specs: Vec<ColumnSpec>,
        columns: Vec<Column>,
        rows: usize,
        code_col: usize,
        date_col: usize,
        info: LoadInfo,
        keys: Keys,
        retired: Option<Bitmap>,
    ) -> Store {
        let Keys {
            rows: _,
            code_dict_len,
            dates,
            date_slot,
            matrix,
            unindexed,
            code_ids,
            code_order,
            date_off,
            date_rows,
        } = keys;
        let date_rows = DateRows::of(date_rows);
        debug_assert!(columns.iter().all(|c| c.data.len() == rows));
        let nd = dates.len();
        let latest = (0..code_dict_len)
            .map(|c| {
                matrix[c * nd..(c + 1) * nd]
                    .iter()
                    .rev()
                    .copied()
                    .find(|&r| r != NONE)
                    .unwrap_or(NONE)
            })
            .collect();
        let presence = Presence::of(&matrix, nd, &code_order, code_dict_len);
        drop(matrix);

        let by_name = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let json_keys = specs
            .iter()
            .map(|s| {
                let mut k = String::with_capacity(s.name.len() + 3);
                json::write_str(&mut k, &s.name);
                k.push(':');
                k
            })
            .collect();
        Store {
            specs,
            columns,
            rows,
            code_col,
            date_col,
            by_name,
            json_keys,
            dates,
            date_slot,
            date_off,
            date_rows,
            code_ids,
            code_order,
            presence,
            latest,
            served: nd,
            unindexed,
            retired_rows: retired.as_ref().map_or(0, Bitmap::count_ones),
            retired,
            memo: DateMemo {
                key: AtomicU64::new(0),
                values: (0..nd).map(|_| AtomicU32::new(NONE)).collect(),
            },
            info,
        }
    }

    /// Marks the dates after `through` as pending: requests without a date
    /// (latest row, default date, date lists) see only dates up to
    /// `through`; a pending date is served only when asked for by date.
    /// `i32::MAX` serves every date held, `i32::MIN` none by default.
    pub fn hold_back_after(&mut self, through: i32) {
        let served = self.dates.partition_point(|&d| d <= through);
        if served == self.served {
            return;
        }
        self.served = served;
        let latest: Vec<u32> = (0..self.latest.len() as u32)
            .map(|c| {
                (0..served)
                    .rev()
                    .find_map(|di| self.row(c, di))
                    .map_or(NONE, |r| r as u32)
            })
            .collect();
        self.latest = latest;
    }

    /// The complete dates, ascending: what requests without a date see.
    pub fn served_dates(&self) -> &[i32] {
        &self.dates[..self.served]
    }

    /// Dates held but not yet complete (newest after the served ones).
    pub fn pending_dates(&self) -> &[i32] {
        &self.dates[self.served..]
    }

    /// The default date's index: the newest complete date.
    pub fn latest_date_index(&self) -> Option<usize> {
        self.served.checked_sub(1)
    }

    /// Rows of the pending dates.
    pub fn pending_rows(&self) -> usize {
        (self.served..self.dates.len())
            .map(|di| self.rows_on(di).len())
            .sum()
    }

    /// An empty store of the given columns (before the first load).
    pub fn empty(
        specs: Vec<ColumnSpec>,
        code: &str,
        date: &str,
        info: LoadInfo,
    ) -> Result<Store, StoreError> {
        Ok(StoreBuilder::new(specs, code, date, 0)?.finish(info))
    }

    /// Rows of this store (indexed or not; without the retired ones).
    pub fn rows(&self) -> usize {
        self.rows - self.retired_rows
    }

    /// A figure derived from the rows of date `di` by `derive` (which
    /// must give the same answer every time for this generation and `key`,
    /// and not [`NONE`]): computed once per date and kept, 4 bytes a date,
    /// for the first `key` asked; another key is computed every time.
    pub fn per_date(&self, key: u32, di: usize, derive: impl FnOnce() -> u32) -> u32 {
        let tagged = u64::from(key) | 1 << 32;
        let m = &self.memo;
        let mine = match m
            .key
            .compare_exchange(0, tagged, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => true,
            Err(k) => k == tagged,
        };
        let Some(slot) = m.values.get(di).filter(|_| mine) else {
            return derive();
        };
        match slot.load(Ordering::Relaxed) {
            NONE => {
                let v = derive();
                slot.store(v, Ordering::Relaxed);
                v
            }
            v => v,
        }
    }

    /// Rows in the column buffers: [`Store::rows`] and the retired ones.
    pub fn held_rows(&self) -> usize {
        self.rows
    }

    /// Rows in the column buffers that are no longer this store's: a
    /// window's dropped dates and dates read again, until a full load.
    pub fn retired_rows(&self) -> usize {
        self.retired_rows
    }

    /// Whether row `r` of the column buffers is this store's.
    #[inline]
    pub fn is_held(&self, r: usize) -> bool {
        self.retired.as_ref().is_none_or(|b| !b.get(r))
    }

    /// The rows held on `date` (empty when it is not held).
    fn rows_on_date(&self, date: i32) -> RowsOn<'_> {
        match self.date_index(date) {
            Some(di) => self.rows_on(di),
            None => RowsOn::Run(0..0),
        }
    }

    pub fn specs(&self) -> &[ColumnSpec] {
        &self.specs
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Whether row `r` is this store's (`None`), or stays after `retiring`.
    #[inline]
    fn stays(&self, retiring: Option<&Retiring>, r: usize) -> bool {
        match retiring {
            Some(t) => !t.bits.get(r),
            None => self.is_held(r),
        }
    }

    /// This store's rows of each date (or those that stay after
    /// `retiring`), indexed or not; rows without a date or with an
    /// infinite one are not counted.
    pub fn rows_by_date(&self, retiring: Option<&Retiring>) -> HashMap<i32, usize> {
        let mut by_date = HashMap::with_capacity(self.dates.len());
        let date = &self.columns[self.date_col];
        if let ColumnData::Date(v) = &date.data {
            for (r, d) in v.iter().enumerate() {
                let d = d as i32;
                if self.stays(retiring, r) && !date.is_null(r) && !matches!(d, i32::MIN | i32::MAX)
                {
                    *by_date.entry(d).or_insert(0) += 1;
                }
            }
        }
        by_date
    }

    /// The largest non-NULL value of a timestamp or bigint column, among
    /// this store's rows, or the rows that stay after `retiring`.
    pub fn newest_i64(&self, col: usize, retiring: Option<&Retiring>) -> Option<i64> {
        let c = self.columns.get(col)?;
        match &c.data {
            ColumnData::Timestamp(v) | ColumnData::TimestampTz(v) | ColumnData::Int8(v) => v
                .iter()
                .enumerate()
                .filter(|&(r, _)| self.stays(retiring, r) && !c.is_null(r))
                .map(|(_, x)| x)
                .max(),
            _ => None,
        }
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Every date held, pending ones included (see [`Store::served_dates`]).
    pub fn dates(&self) -> &[i32] {
        &self.dates
    }

    pub fn stocks(&self) -> usize {
        self.code_order.len()
    }

    /// Rows loaded but not reachable by (code, date): NULL keys or repeats.
    pub fn unindexed_rows(&self) -> usize {
        self.unindexed
    }

    /// Codes held, sorted.
    pub fn codes(&self) -> impl Iterator<Item = &str> + '_ {
        self.code_order.iter().map(|&c| self.code_str(c))
    }

    fn code_str(&self, id: u32) -> &str {
        match &self.columns[self.code_col].data {
            ColumnData::Text { dict, .. } => dict.get(id as usize),
            _ => "",
        }
    }

    pub fn code_id(&self, code: &str) -> Option<u32> {
        self.code_ids.get(code).copied()
    }

    /// Index of `date` among the dates held.
    pub fn date_index(&self, date: i32) -> Option<usize> {
        let first = *self.dates.first()?;
        let off = usize::try_from(date as i64 - first as i64).ok()?;
        match self.date_slot.get(off) {
            Some(&i) if i != NONE => Some(i as usize),
            _ => None,
        }
    }

    /// The row of (code id, date index), O(1).
    #[inline]
    pub fn row(&self, code_id: u32, date_idx: usize) -> Option<usize> {
        let rank = self.presence.rank(code_id, date_idx)?;
        let at = *self.date_off.get(date_idx)? as usize + rank;
        match &self.date_rows {
            DateRows::Run(first) => Some(*first as usize + at),
            DateRows::List(v) => v.get(at).map(|&r| r as usize),
        }
    }

    /// The latest row of a code id.
    pub fn latest_row(&self, code_id: u32) -> Option<usize> {
        let r = *self.latest.get(code_id as usize)?;
        (r != NONE).then_some(r as usize)
    }

    /// Rows of one date, in code order.
    pub fn rows_on(&self, date_idx: usize) -> RowsOn<'_> {
        match (self.date_off.get(date_idx), self.date_off.get(date_idx + 1)) {
            (Some(&a), Some(&b)) => match &self.date_rows {
                DateRows::Run(first) => RowsOn::Run(first + a..first + b),
                DateRows::List(v) => RowsOn::List(&v[a as usize..b as usize]),
            },
            _ => RowsOn::List(&[]),
        }
    }

    /// The code of a row.
    pub fn row_code(&self, row: usize) -> &str {
        match &self.columns[self.code_col].data {
            ColumnData::Text { dict, codes } => dict.get(codes.get(row) as usize),
            _ => "",
        }
    }

    /// The date of a row (PostgreSQL days).
    pub fn row_date(&self, row: usize) -> i32 {
        match &self.columns[self.date_col].data {
            ColumnData::Date(v) => v.get(row) as i32,
            _ => 0,
        }
    }

    /// Starts fetching `row`'s values of `fields` into cache, all at once
    /// (see [`Column::prefetch`]): for a writer of that one row
    /// (`stock.get`).
    #[inline]
    pub fn prefetch(&self, row: usize, fields: &[usize]) {
        // Every block header first, so that their fetches overlap; each
        // value's address is then computed from a header in cache.
        for &c in fields {
            self.columns[c].prefetch_head(row);
        }
        for &c in fields {
            self.columns[c].prefetch(row);
        }
    }

    /// The pre-escaped `"name":` key of a column.
    pub fn json_key(&self, col: usize) -> &str {
        &self.json_keys[col]
    }

    /// Bytes of all column buffers and indexes (what the store costs).
    pub fn heap_bytes(&self) -> usize {
        self.columns.iter().map(Column::heap_bytes).sum::<usize>()
            + self.index_bytes()
            + self.retired.as_ref().map_or(0, Bitmap::heap_bytes)
    }

    /// Bytes of the indexes and name tables: the store minus its columns.
    pub fn index_bytes(&self) -> usize {
        self.presence.bytes()
            + self.memo.values.len() * 4
            + self.latest.capacity() * 4
            + match &self.date_rows {
                DateRows::Run(_) => 0,
                DateRows::List(v) => v.capacity() * 4,
            }
            + self.date_off.capacity() * 4
            + self.date_slot.capacity() * 4
            + self.dates.capacity() * 4
            + self.code_order.capacity() * 4
            + self.code_ids.capacity() * 40
            + self.code_ids.keys().map(|k| k.len()).sum::<usize>()
            + self
                .json_keys
                .iter()
                .map(|k| k.capacity() + 24)
                .sum::<usize>()
            + self.by_name.capacity() * 40
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_rows_in_order_are_a_run_and_others_a_list() {
        let store_of = |rows: Vec<u32>, off: Vec<u32>| (DateRows::of(rows), off);
        let at = |(d, off): &(DateRows, Vec<u32>), di: usize| -> Vec<u32> {
            let (a, b) = (off[di], off[di + 1]);
            match d {
                DateRows::Run(first) => RowsOn::Run(first + a..first + b).to_vec(),
                DateRows::List(v) => RowsOn::List(&v[a as usize..b as usize]).to_vec(),
            }
        };
        let run = store_of(vec![2, 3, 4, 5, 6], vec![0, 3, 5]);
        assert!(matches!(run.0, DateRows::Run(2)));
        assert_eq!((at(&run, 0), at(&run, 1)), (vec![2, 3, 4], vec![5, 6]));
        // A gap (a newer day's unindexed row) keeps the list.
        let list = store_of(vec![0, 1, 2, 4, 5], vec![0, 3, 5]);
        assert!(matches!(list.0, DateRows::List(_)));
        assert_eq!((at(&list, 0), at(&list, 1)), (vec![0, 1, 2], vec![4, 5]));
        let mut it = RowsOn::List(&[7, 9]);
        assert_eq!((it.len(), it.next(), it.len()), (2, Some(7), 1));
        assert!(RowsOn::Run(3..3).is_empty());
    }

    fn info() -> LoadInfo {
        LoadInfo {
            generation: 1,
            loaded_at: SystemTime::UNIX_EPOCH,
            load_ms: 0,
            provenance: Provenance {
                kind: "demo",
                detail: "test".into(),
                window_days: 0,
                skipped: vec![],
            },
            read: Read::FULL,
        }
    }

    fn specs() -> Vec<ColumnSpec> {
        vec![
            ColumnSpec::new("code", ColumnKind::Text, false),
            ColumnSpec::new("d", ColumnKind::Date, false),
            ColumnSpec::new("x", ColumnKind::Int4, true),
        ]
    }

    #[test]
    fn indexes_by_code_and_date() {
        let mut b = StoreBuilder::new(specs(), "code", "d", 4).unwrap();
        let rows: [(&str, i32, Option<i32>); 5] = [
            ("B", 10, Some(1)),
            ("A", 10, None),
            ("A", 12, Some(3)),
            ("B", 12, Some(4)),
            ("C", 10, Some(5)),
        ];
        for (c, d, x) in rows {
            let d = d.to_be_bytes();
            let x = x.map(i32::to_be_bytes);
            b.push_row([Some(c.as_bytes()), Some(&d[..]), x.as_ref().map(|v| &v[..])])
                .unwrap();
        }
        let s = b.finish(info());
        assert_eq!(s.dates(), &[10, 12]);
        assert_eq!(s.stocks(), 3);
        let a = s.code_id("A").unwrap();
        let c = s.code_id("C").unwrap();
        assert_eq!(s.row(a, 1).map(|r| x(&s, r)), Some(Some(3)));
        assert_eq!(s.latest_row(c).map(|r| x(&s, r)), Some(Some(5)));
        assert_eq!(s.row(c, 1), None);
        assert_eq!(s.date_index(11), None);
        let on_10: Vec<&str> = s.rows_on(0).map(|r| s.row_code(r as usize)).collect();
        assert_eq!(on_10, ["A", "B", "C"]);
        assert_eq!(s.row(a, 0).map(|r| x(&s, r)), Some(None));
        assert_eq!(s.codes().collect::<Vec<_>>(), ["A", "B", "C"]);
        // Held by (date, code): each date's rows are adjacent, in code order.
        assert_eq!(s.rows_on(0).to_vec(), [0, 1, 2]);
        assert_eq!(s.rows_on(1).to_vec(), [3, 4]);
        for r in 0..s.rows() {
            let (code, date) = (s.row_code(r), s.row_date(r));
            let di = s.date_index(date).unwrap();
            assert_eq!(s.row(s.code_id(code).unwrap(), di), Some(r));
        }
    }

    #[test]
    fn every_code_and_date_finds_its_row_past_one_word_of_codes() {
        // 200 codes (four words of the presence bitmap) over 7 dates, one
        // cell in five missing (suspended), loaded in neither order.
        let present = |c: i32, d: i32| (c * 7 + d * 3) % 5 != 0;
        let mut b = StoreBuilder::new(specs(), "code", "d", 1_400).unwrap();
        for d in (1..=7).rev() {
            for c in (0..200).map(|i| (i * 37) % 200) {
                if present(c, d) {
                    let code = format!("C{c:03}");
                    let (dd, x) = (d.to_be_bytes(), (c * 100 + d).to_be_bytes());
                    b.push_row([Some(code.as_bytes()), Some(&dd[..]), Some(&x[..])])
                        .unwrap();
                }
            }
        }
        let s = b.finish(info());
        assert_eq!(s.dates(), &[1, 2, 3, 4, 5, 6, 7]);
        for c in 0..200 {
            let id = s.code_id(&format!("C{c:03}")).unwrap();
            for d in 1..=7 {
                let found = s.row(id, (d - 1) as usize).map(|r| x(&s, r));
                let want = present(c, d).then_some(Some(c * 100 + d));
                assert_eq!(found, want, "code {c}, date {d}");
            }
            let last = (1..=7).rev().find(|&d| present(c, d)).unwrap();
            assert_eq!(
                s.latest_row(id).map(|r| x(&s, r)),
                Some(Some(c * 100 + last))
            );
        }
        assert_eq!(s.row(0, 7), None, "a date past the last");
    }

    /// The value of column `x` in row `r`, `None` for NULL.
    fn x(s: &Store, r: usize) -> Option<i32> {
        let col = &s.columns()[2];
        match &col.data {
            ColumnData::Int4(v) => (!col.is_null(r)).then_some(v.get(r) as i32),
            _ => panic!("x is int4"),
        }
    }

    #[test]
    fn repeats_and_null_keys_keep_the_later_row_and_go_last() {
        let mut b = StoreBuilder::new(specs(), "code", "d", 4).unwrap();
        let rows: [(Option<&str>, i32, i32); 5] = [
            (Some("B"), 12, 1),
            (None, 10, 2),
            (Some("B"), 10, 3),
            (Some("B"), 12, 4),
            (Some("A"), 12, 5),
        ];
        for (c, d, v) in rows {
            let (d, v) = (d.to_be_bytes(), v.to_be_bytes());
            b.push_row([c.map(str::as_bytes), Some(&d[..]), Some(&v[..])])
                .unwrap();
        }
        let s = b.finish(info());
        assert_eq!(s.rows(), 5);
        assert_eq!(s.unindexed_rows(), 2);
        let b_id = s.code_id("B").unwrap();
        // The later of the two (B, 12) rows wins, as before the reorder.
        assert_eq!(s.row(b_id, 1).map(|r| x(&s, r)), Some(Some(4)));
        assert_eq!(s.rows_on(0).to_vec(), [2]);
        assert_eq!(s.rows_on(1).to_vec(), [3, 4]);
        // The unindexed rows are kept, before the indexed ones, in load order.
        assert_eq!(
            (0..2).map(|r| x(&s, r)).collect::<Vec<_>>(),
            [Some(1), Some(2)]
        );
        // Indexed again (as a snapshot restore does), the same rows win.
        let again = Store::build(
            s.specs.clone(),
            s.columns.clone(),
            s.rows,
            s.code_col,
            s.date_col,
            info(),
            true,
            None,
        );
        assert_eq!(again.rows_on(1).to_vec(), [3, 4]);
        assert_eq!(again.row(b_id, 1).map(|r| x(&again, r)), Some(Some(4)));
        assert_eq!(again.unindexed_rows(), 2);
    }

    /// One row of the append test's table, as binary COPY fields.
    type Wide = (Option<String>, i32, Option<i32>, f64, i64, String);

    fn wide_specs() -> Vec<ColumnSpec> {
        vec![
            ColumnSpec::new("code", ColumnKind::Text, true),
            ColumnSpec::new("d", ColumnKind::Date, false),
            ColumnSpec::new("x", ColumnKind::Int4, true),
            ColumnSpec::new("price", ColumnKind::Float8, false),
            ColumnSpec::new(
                "amount",
                ColumnKind::Numeric {
                    precision: Some(20),
                    scale: Some(0),
                },
                false,
            ),
            ColumnSpec::new("name", ColumnKind::Text, false),
        ]
    }

    fn numeric_bytes(v: i64) -> Vec<u8> {
        // PostgreSQL's binary numeric: base-10000 digits, weight, sign.
        let mut digits = Vec::new();
        let mut m = v.unsigned_abs();
        while m > 0 {
            digits.push((m % 10000) as i16);
            m /= 10000;
        }
        digits.reverse();
        let mut out = Vec::new();
        out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        out.extend_from_slice(&(digits.len() as i16 - 1).to_be_bytes());
        out.extend_from_slice(&(if v < 0 { 0x4000u16 } else { 0 }).to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    fn wide_store(rows: &[Wide]) -> Store {
        wide_builder(rows, rows.len()).finish(info())
    }

    /// `rows` pushed into a builder told to expect `expect` rows (a large
    /// number makes it encode in chunks).
    fn wide_builder(rows: &[Wide], expect: usize) -> StoreBuilder {
        let mut b = StoreBuilder::new(wide_specs(), "code", "d", expect).unwrap();
        for (code, d, x, price, amount, name) in rows {
            let (d, x, p, a) = (
                d.to_be_bytes(),
                x.map(i32::to_be_bytes),
                price.to_be_bytes(),
                numeric_bytes(*amount),
            );
            b.push_row([
                code.as_deref().map(str::as_bytes),
                Some(&d[..]),
                x.as_ref().map(|v| &v[..]),
                Some(&p[..]),
                Some(&a[..]),
                Some(name.as_bytes()),
            ])
            .unwrap();
        }
        b
    }

    #[test]
    fn a_load_of_many_chunks_holds_every_value_as_loaded() {
        // 700 codes × 200 dates: two whole chunks and a part, loaded in
        // neither date nor code order, so every column is put in another
        // order from its pieces.
        let (codes, dates) = (700u32, 200i32);
        let mut rows: Vec<Wide> = Vec::new();
        for d in 0..dates {
            for k in 0..codes {
                let c = (k * 389 + d as u32 * 7) % codes;
                let i = rows.len() as i64;
                // Cents for most; the second chunk's prices are thirtieths
                // of a cent, so the chunks' encodings differ.
                let price = match rows.len() / CHUNK {
                    1 => (i * 7 % 90_000 + 1) as f64 / 3000.0,
                    _ => (i * 13 % 90_000 + 1) as f64 / 100.0,
                };
                rows.push((
                    Some(format!("{c:06}")),
                    d * 3,
                    (i % 11 != 0).then_some((i * 31 % 100_000) as i32 - 50_000),
                    price,
                    i * 1_000_003 - 7,
                    format!("name {}", c % 13),
                ));
            }
        }
        assert!(rows.len() > 2 * CHUNK && !rows.len().is_multiple_of(CHUNK));
        let b = wide_builder(&rows, CHUNKED_FROM);
        assert!(
            b.sealed() >= 2,
            "{} chunks encoded while loading",
            b.sealed()
        );
        let s = b.finish(info());
        // Told to expect a few rows, the same load encodes once.
        let once = wide_builder(&rows, 1000);
        assert!(once.sealed() == 0 && once.pieces.iter().all(Option::is_none));
        let once = once.finish(info());
        assert_eq!(contents(&once), contents(&s));
        // Each column's codec is the one the single pass chose.
        let layouts = |s: &Store| {
            s.columns()
                .iter()
                .map(|c| c.data.layout())
                .collect::<Vec<_>>()
        };
        assert_eq!(layouts(&once), layouts(&s));
        assert_eq!(
            (s.rows(), s.dates().len(), s.stocks()),
            (rows.len(), 200, 700)
        );
        assert_eq!(s.columns()[3].data.layout(), "f64-fraction-packed");
        for (code, d, x, price, amount, name) in &rows {
            let id = s.code_id(code.as_deref().unwrap_or("")).unwrap();
            let r = s.row(id, s.date_index(*d).unwrap()).unwrap();
            let [_, _, cx, cp, ca, cn] = s.columns() else {
                panic!("six columns")
            };
            assert_eq!(
                json::value_f64(cx, r),
                x.map(f64::from),
                "x of {code:?} on {d}"
            );
            assert_eq!(
                json::value_f64(cp, r).map(f64::to_bits),
                Some(price.to_bits())
            );
            let mantissa = match &ca.data {
                ColumnData::Decimal { values, .. } => values.get(r),
                other => panic!("amount is held as {}", other.layout()),
            };
            assert_eq!(mantissa, Some(*amount as i128));
            let mut got = String::new();
            json::write_value(&mut got, cn, r);
            assert_eq!(got, format!("\"{name}\""));
        }
    }

    /// Every (code, date)'s values as JSON text, and the dates served.
    fn contents(s: &Store) -> (Vec<String>, Vec<i32>) {
        let mut out = Vec::new();
        for code in s.codes() {
            let id = s.code_id(code).unwrap();
            for di in 0..s.dates().len() {
                if let Some(r) = s.row(id, di) {
                    let mut line = String::new();
                    for c in s.columns() {
                        json::write_value(&mut line, c, r);
                        line.push(' ');
                    }
                    out.push(line);
                }
            }
        }
        (out, s.served_dates().to_vec())
    }

    #[test]
    fn a_figure_per_date_is_derived_once_for_its_key() {
        let rows: Vec<Wide> = (0..3)
            .map(|d| (Some("000001".into()), d, None, 1.0, 1, "n".into()))
            .collect();
        let s = wide_store(&rows);
        let calls = std::cell::Cell::new(0);
        let derive = |v: u32| {
            calls.set(calls.get() + 1);
            v
        };
        assert_eq!(s.per_date(7, 1, || derive(40)), 40);
        assert_eq!(s.per_date(7, 1, || derive(99)), 40, "kept");
        assert_eq!(s.per_date(7, 2, || derive(41)), 41, "another date");
        assert_eq!(s.per_date(8, 1, || derive(42)), 42, "another key");
        assert_eq!(s.per_date(8, 1, || derive(43)), 43, "not kept");
        assert_eq!(s.per_date(7, 9, || derive(44)), 44, "no such date");
        assert_eq!(calls.get(), 5);
    }

    #[test]
    fn a_refresh_drops_old_dates_and_reads_an_edited_one_again() {
        let day = |d: i32, codes: std::ops::Range<u32>, cents: i64| -> Vec<Wide> {
            codes
                .map(|c| {
                    (
                        Some(format!("{c:06}")),
                        d,
                        (c % 3 != 0).then_some(c as i32 + d),
                        (cents + c as i64) as f64 / 100.0,
                        c as i64 * 10 + d as i64,
                        format!("name {}", c % 7),
                    )
                })
                .collect()
        };
        let mut old = [
            day(10, 0..300, 150),
            day(11, 0..300, 160),
            day(12, 0..300, 170),
        ]
        .concat();
        old.push((None, 11, Some(1), 1.0, 1, "no code".into()));
        let base = wide_store(&old);
        let date_at = |s: &Store| match &s.columns()[1].data {
            ColumnData::Date(v) => v.parts().1.as_ptr() as usize,
            _ => 0,
        };
        // Date 12 read again (other prices, 100 stocks gone), 13 is new;
        // without retiring its rows, a held date cannot come again.
        let more = [day(12, 0..200, 990), day(13, 0..300, 180)].concat();
        assert!(base.append(wide_store(&more), info(), None).is_none());
        let retiring = base.retiring(Some(11), &[12]);
        assert_eq!((retiring.out, retiring.left, retiring.dates), (600, 301, 1));
        let next = base
            .append(wide_store(&more), info(), Some(retiring))
            .unwrap();
        let want = [day(11, 0..300, 160), more.clone()].concat();
        assert_eq!(contents(&next), contents(&wide_store(&want)));
        assert_eq!(next.dates(), &[11, 12, 13]);
        // The NULL-code row of date 11 stays (unindexed), as in a load.
        assert_eq!((next.rows(), next.unindexed_rows()), (801, 1));
        assert_eq!((next.retired_rows(), next.held_rows()), (600, 1401));
        assert_eq!(next.info.read.dropped_dates, 1);
        assert_eq!(date_at(&next), date_at(&base), "the buffers are shared");
        assert_eq!(contents(&base), contents(&wide_store(&old)));

        // The next day keeps them retired; a later retiring adds to them.
        let after = next
            .append(wide_store(&day(14, 0..300, 190)), info(), None)
            .unwrap();
        assert_eq!(after.retired_rows(), 600);
        let want = [want, day(14, 0..300, 190)].concat();
        assert_eq!(contents(&after), contents(&wide_store(&want)));
        let r = after.retiring(Some(12), &[]);
        assert_eq!((r.out, r.left, r.dates), (901, 800, 1));

        // A snapshot holds the retired rows as retired.
        let dir = std::env::temp_dir().join(format!("stockd-retired-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = snapshot::write(&after, &dir).unwrap();
        let back = snapshot::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(contents(&back), contents(&after));
        assert_eq!(
            (back.rows(), back.retired_rows(), back.unindexed_rows()),
            (after.rows(), 600, 1)
        );
    }

    #[test]
    fn an_appended_day_is_the_same_store_and_shares_the_old_buffers() {
        // Prices are exact decimals: a mantissa over 100, or 1,000.
        let day =
            |d: i32, codes: std::ops::Range<u32>, price: (i64, f64), amount: i64| -> Vec<Wide> {
                codes
                    .map(|c| {
                        (
                            Some(format!("{c:06}")),
                            d,
                            (c % 3 != 0).then_some(c as i32),
                            (price.0 + c as i64) as f64 / price.1,
                            amount + c as i64,
                            format!("name {}", c % 7),
                        )
                    })
                    .collect()
            };
        let old: Vec<Wide> = [
            day(10, 0..200, (150, 100.0), 7),
            day(11, 0..200, (225, 100.0), 9),
        ]
        .concat();
        let base = wide_store(&old);
        // Kept as they are: the shared buffers are the old ones.
        let price_at = |s: &Store| match &s.columns()[3].data {
            ColumnData::DecimalF64 { values, .. } => match values {
                column::Decimals::Packed(v) => v.parts().1.as_ptr() as usize,
                column::Decimals::I128(v) => v.as_ptr() as usize,
                column::Decimals::ByCode(v) => v.offsets.parts().1.as_ptr() as usize,
            },
            other => panic!("price is held as {}", other.layout()),
        };
        let date_at = |s: &Store| match &s.columns()[1].data {
            ColumnData::Date(v) => v.parts().1.as_ptr() as usize,
            _ => 0,
        };

        // A day like the others: everything shares, nothing is copied.
        let new_day = day(12, 0..200, (300, 100.0), 11);
        let grown = base.append(wide_store(&new_day), info(), None).unwrap();
        assert_eq!(grown.info.read.kind, ReadKind::Incremental);
        assert_eq!((grown.info.read.rows, grown.info.read.dates), (200, 1));
        assert_eq!(date_at(&grown), date_at(&base));
        assert_eq!(price_at(&grown), price_at(&base));
        let all = wide_store(&[old.clone(), new_day.clone()].concat());
        assert_eq!(contents(&grown), contents(&all));
        // The old generation still reads its own rows only.
        assert_eq!(contents(&base), contents(&wide_store(&old)));

        // A day that changes how columns are held: new codes past 256
        // (wider dictionary codes), a price with a third decimal (another
        // exponent), an amount past i16 (wider mantissas), NULL codes.
        let mut odd = day(13, 150..400, (4125, 1000.0), 40_000_000_000);
        odd.push((None, 13, Some(1), 1.0, 1, "no code".into()));
        let again = grown.append(wide_store(&odd), info(), None).unwrap();
        let everything = wide_store(&[old.clone(), new_day.clone(), odd.clone()].concat());
        assert_eq!(contents(&again), contents(&everything));
        assert_eq!(again.rows(), everything.rows());
        assert_eq!(again.unindexed_rows(), 1);
        assert_eq!(contents(&grown), contents(&all), "the previous generation");
        // The date column still shares; the re-encoded price does not.
        assert_eq!(date_at(&again), date_at(&base));
        assert_ne!(price_at(&again), price_at(&base));

        // Narrower new values join wider held ones (amount: i16 into i64).
        let small = day(15, 0..200, (500, 100.0), 3);
        let fifteen = again.append(wide_store(&small), info(), None).unwrap();
        assert_eq!(
            contents(&fifteen),
            contents(&wide_store(
                &[old.clone(), new_day.clone(), odd.clone(), small].concat()
            ))
        );

        // Only newer dates append; the generation before cannot append a
        // second time into the room its successor took.
        assert!(again
            .append(wide_store(&day(13, 0..5, (1, 100.0), 1)), info(), None)
            .is_none());
        let late = grown
            .append(wide_store(&day(14, 0..200, (500, 100.0), 3)), info(), None)
            .unwrap();
        // (These days are shorter than a block, so every generation holds
        // them in its own tail and nothing is written into shared room:
        // `packed`'s tests show a second append from an older view copying.)
        assert_eq!(
            contents(&late),
            contents(&wide_store(
                &[old, new_day, day(14, 0..200, (500, 100.0), 3)].concat()
            ))
        );
    }

    #[test]
    fn values_held_by_stock_append_a_day_with_new_and_missing_stocks() {
        // 2,100 stocks over eight days, whose price and amount move by
        // one a day: both are held by stock.
        let day = |d: i32, codes: std::ops::Range<u32>| -> Vec<Wide> {
            codes
                .map(|c| {
                    let c64 = c as i64;
                    (
                        Some(format!("{c:06}")),
                        d,
                        Some(c as i32),
                        ((c64 * 7919) % 100_000 + d as i64) as f64 / 100.0,
                        (c64 * 1_000_003) % 1_000_000_007 + d as i64,
                        format!("name {c}"),
                    )
                })
                .collect()
        };
        let layouts = |s: &Store| (s.columns()[3].data.layout(), s.columns()[4].data.layout());
        let by_stock = ("f64-decimal-by-stock", "decimal-by-stock");
        let old: Vec<Wide> = (10..18).flat_map(|d| day(d, 0..2100)).collect();
        let base = wide_store(&old);
        assert_eq!(layouts(&base), by_stock);
        // A day without the first 100 stocks, with 200 new ones.
        let new_day = day(18, 100..2300);
        let grown = base.append(wide_store(&new_day), info(), None).unwrap();
        assert_eq!(layouts(&grown), by_stock);
        let all = wide_store(&[old.clone(), new_day].concat());
        assert_eq!(contents(&grown), contents(&all));
        assert_eq!(contents(&base), contents(&wide_store(&old)));
    }

    #[test]
    fn a_held_back_date_is_served_only_by_date() {
        let mut b = StoreBuilder::new(specs(), "code", "d", 4).unwrap();
        for (c, d) in [("A", 10), ("B", 10), ("A", 12)] {
            let d = i32::to_be_bytes(d);
            b.push_row([Some(c.as_bytes()), Some(&d[..]), None])
                .unwrap();
        }
        let mut s = b.finish(info());
        let a = s.code_id("A").unwrap();
        assert_eq!(s.latest_row(a), Some(2));
        s.hold_back_after(11);
        assert_eq!(s.served_dates(), &[10]);
        assert_eq!(s.pending_dates(), &[12]);
        assert_eq!(s.latest_date_index(), Some(0));
        assert_eq!(s.latest_row(a), Some(0));
        assert_eq!(s.pending_rows(), 1);
        // Still reachable when asked for by date.
        assert_eq!(s.row(a, 1), Some(2));
        s.hold_back_after(i32::MAX);
        assert_eq!(s.latest_row(a), Some(2));
        assert_eq!(s.latest_date_index(), Some(1));
        s.hold_back_after(9);
        assert_eq!(s.latest_date_index(), None);
        assert_eq!(s.latest_row(a), None);
    }

    #[test]
    fn key_columns_are_checked() {
        let e = StoreBuilder::new(specs(), "nope", "d", 0).err().unwrap();
        assert!(e.to_string().contains("'nope'"), "{e}");
        let e = StoreBuilder::new(specs(), "code", "x", 0).err().unwrap();
        assert!(e.to_string().contains("must be date"), "{e}");
    }

    #[test]
    fn wrong_field_count_is_an_error() {
        let mut b = StoreBuilder::new(specs(), "code", "d", 1).unwrap();
        let e = b.push_row([Some(&b"A"[..])]).err().unwrap();
        assert!(matches!(
            e,
            StoreError::FieldCount {
                got: 1,
                want: 3,
                ..
            }
        ));
    }
}
