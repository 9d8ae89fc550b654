//! The stock universe: codes, names, boards, industries and the per-stock
//! constants (share counts, fundamentals, volatility) the daily simulation
//! draws from. Built once per data set; a few hundred bytes per stock.

use std::collections::HashSet;

use super::rng::{domain, Rng};

/// Trading boards, which set a stock's price-limit band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Board {
    /// Shanghai main board (600/601/603/605).
    ShMain,
    /// Shenzhen main board (000/001/002/003).
    SzMain,
    /// ChiNext (300/301): ±20%.
    ChiNext,
    /// STAR Market (688/689): ±20%.
    Star,
}

impl Board {
    fn index(self) -> usize {
        self as usize
    }

    /// Daily price limit in percent for a stock that is not newly listed.
    /// Risk-warning (ST) stocks only exist on the main boards here, where
    /// their band is ±5% (the rule the reference data was taken under).
    pub fn limit_pct(self, is_st: bool) -> i64 {
        match (self, is_st) {
            (_, true) => 5,
            (Board::ShMain | Board::SzMain, false) => 10,
            (Board::ChiNext | Board::Star, false) => 20,
        }
    }

    pub fn is_growth(self) -> bool {
        matches!(self, Board::ChiNext | Board::Star)
    }
}

/// Code prefixes with their board, the suffix range used and the relative
/// weight (≈ today's listing counts). Zero-weight prefixes only take stocks
/// when the weighted ones are full (very large `stocks`).
const PREFIXES: [(&str, Board, u32, u32, f64); 12] = [
    ("000", Board::SzMain, 1, 1000, 9.0),
    ("001", Board::SzMain, 200, 400, 2.0),
    ("002", Board::SzMain, 1, 1000, 20.0),
    ("300", Board::ChiNext, 1, 1000, 22.0),
    ("600", Board::ShMain, 0, 1000, 17.0),
    ("601", Board::ShMain, 0, 1000, 5.0),
    ("603", Board::ShMain, 0, 1000, 13.0),
    ("605", Board::ShMain, 1, 600, 3.0),
    ("688", Board::Star, 1, 800, 9.0),
    ("003", Board::SzMain, 1, 1000, 0.0),
    ("301", Board::ChiNext, 1, 1000, 0.0),
    ("689", Board::Star, 1, 1000, 0.0),
];

/// The most stocks the code space above can name.
pub(crate) fn code_capacity() -> u64 {
    PREFIXES.iter().map(|p| (p.3 - p.2) as u64).sum()
}

/// One industry (申万-style second-level names) and the typical figures of
/// its members, so banks trade like banks and chip makers like chip makers.
pub(crate) struct Industry {
    pub name: &'static str,
    /// Relative frequency on [Shanghai main, Shenzhen main, ChiNext, STAR].
    boards: [f64; 4],
    /// Median share price, yuan.
    price: f64,
    /// Median P/E, P/B, P/S of members.
    pe: f64,
    pb: f64,
    ps: f64,
    /// Idiosyncratic daily volatility (fraction).
    pub sigma: f64,
    /// Median daily turnover (fraction of the float).
    turnover: f64,
    /// Median market value, yuan.
    mv: f64,
    /// Share of loss makers; share of profitable members paying dividends.
    loss: f64,
    payer: f64,
    /// Name endings typical of the industry.
    tails: &'static [&'static str],
}

macro_rules! industry {
    ($name:literal, $boards:expr, $price:expr, $pe:expr, $pb:expr, $ps:expr,
     $sigma:expr, $turn:expr, $mv:expr, $loss:expr, $payer:expr, $tails:expr) => {
        Industry {
            name: $name,
            boards: $boards,
            price: $price,
            pe: $pe,
            pb: $pb,
            ps: $ps,
            sigma: $sigma,
            turnover: $turn,
            mv: $mv,
            loss: $loss,
            payer: $payer,
            tails: $tails,
        }
    };
}

#[rustfmt::skip]
pub(crate) const INDUSTRIES: &[Industry] = &[
    //         name          boards SH SZ CY KC     price  pe    pb   ps   sigma  turn   mv      loss  payer tails
    industry!("银行",       [0.9, 0.5, 0.0, 0.0],  6.0,  5.5, 0.6, 2.0, 0.010, 0.004, 8e10,   0.00, 1.00, &["银行", "农商行"]),
    industry!("证券",       [1.2, 0.8, 0.1, 0.0], 14.0, 22.0, 1.4, 6.0, 0.016, 0.020, 3e10,   0.02, 1.00, &["证券"]),
    industry!("保险",       [0.3, 0.1, 0.0, 0.0], 30.0, 10.0, 1.2, 0.8, 0.013, 0.005, 2e11,   0.00, 1.00, &["保险", "人寿"]),
    industry!("白酒",       [0.5, 0.6, 0.0, 0.0], 70.0, 22.0, 5.0, 7.0, 0.015, 0.008, 3e10,   0.02, 1.00, &["酒业", "贡酒", "佳酿"]),
    industry!("半导体",     [2.0, 2.0, 3.0, 7.0], 45.0, 70.0, 5.0, 10.0, 0.026, 0.035, 1.5e10, 0.16, 0.48, &["微电", "芯片", "集成", "半导", "创芯"]),
    industry!("消费电子",   [2.0, 4.0, 4.0, 1.0], 22.0, 35.0, 3.0, 2.0, 0.022, 0.030, 1e10,   0.08, 0.72, &["电子", "精密", "光电"]),
    industry!("光伏设备",   [2.0, 2.0, 2.0, 2.0], 20.0, 18.0, 2.0, 1.5, 0.024, 0.025, 1.2e10, 0.20, 0.60, &["光伏", "新能", "光能", "硅业"]),
    industry!("电池",       [1.5, 2.0, 3.0, 1.5], 30.0, 25.0, 2.5, 1.8, 0.024, 0.028, 1.2e10, 0.13, 0.60, &["锂电", "电池", "能科"]),
    industry!("汽车整车",   [2.0, 1.5, 0.3, 0.0], 18.0, 25.0, 1.8, 0.8, 0.018, 0.015, 4e10,   0.10, 0.84, &["汽车", "客车", "汽集"]),
    industry!("汽车零部件", [4.0, 5.0, 4.0, 0.5], 18.0, 25.0, 2.2, 1.6, 0.020, 0.025, 8e9,    0.07, 0.84, &["汽配", "精工", "机电", "股份"]),
    industry!("软件开发",   [2.0, 2.0, 6.0, 3.0], 25.0, 80.0, 4.0, 6.0, 0.026, 0.040, 9e9,    0.20, 0.54, &["软件", "信息", "数码", "网络", "智能"]),
    industry!("计算机设备", [1.5, 2.0, 3.0, 2.0], 22.0, 45.0, 3.5, 3.0, 0.024, 0.035, 9e9,    0.13, 0.60, &["科技", "信息", "数据", "电脑"]),
    industry!("通信设备",   [2.0, 2.0, 3.0, 1.5], 20.0, 40.0, 3.0, 2.5, 0.024, 0.035, 1e10,   0.13, 0.60, &["通信", "光通", "通讯"]),
    industry!("化学制药",   [3.0, 3.0, 2.0, 1.5], 20.0, 30.0, 3.0, 3.0, 0.018, 0.020, 1e10,   0.10, 0.72, &["药业", "制药", "医药"]),
    industry!("中药",       [2.0, 2.5, 1.0, 0.0], 18.0, 28.0, 2.5, 3.0, 0.017, 0.018, 8e9,    0.07, 0.84, &["药业", "中药", "堂", "药"]),
    industry!("医疗器械",   [1.5, 2.0, 4.0, 4.0], 35.0, 35.0, 3.5, 5.0, 0.020, 0.022, 1e10,   0.13, 0.66, &["医疗", "医学", "生物"]),
    industry!("生物制品",   [1.5, 1.5, 2.0, 3.0], 30.0, 45.0, 3.5, 6.0, 0.022, 0.022, 1.2e10, 0.23, 0.48, &["生物", "生科", "疫苗"]),
    industry!("医疗服务",   [1.0, 1.0, 2.0, 1.0], 30.0, 40.0, 4.0, 4.0, 0.020, 0.022, 1e10,   0.10, 0.66, &["医疗", "健康", "康复"]),
    industry!("电力",       [4.0, 3.0, 0.2, 0.0],  6.0, 16.0, 1.4, 1.5, 0.011, 0.008, 2e10,   0.05, 1.00, &["电力", "能源", "水电", "热电"]),
    industry!("煤炭",       [2.5, 1.5, 0.0, 0.0], 10.0,  8.0, 1.1, 0.9, 0.016, 0.010, 2e10,   0.03, 1.00, &["煤业", "能源", "矿业"]),
    industry!("钢铁",       [3.0, 2.0, 0.1, 0.0],  4.5, 15.0, 0.8, 0.3, 0.014, 0.010, 1.2e10, 0.16, 0.72, &["钢铁", "特钢", "金属"]),
    industry!("工业金属",   [3.0, 3.0, 0.5, 0.2],  9.0, 20.0, 2.0, 0.7, 0.020, 0.020, 1.5e10, 0.08, 0.72, &["铜业", "铝业", "有色", "矿业"]),
    industry!("化学制品",   [4.0, 5.0, 3.0, 1.0], 14.0, 25.0, 2.0, 1.5, 0.020, 0.022, 7e9,    0.10, 0.78, &["化工", "化学", "新材"]),
    industry!("房地产开发", [3.0, 2.5, 0.0, 0.0],  4.0, 12.0, 0.6, 0.6, 0.018, 0.012, 8e9,    0.29, 0.48, &["地产", "置业", "发展", "城建"]),
    industry!("工程机械",   [2.0, 1.5, 0.5, 0.5], 10.0, 18.0, 1.6, 1.0, 0.016, 0.012, 2e10,   0.07, 0.90, &["重工", "机械", "重机"]),
    industry!("白色家电",   [1.5, 1.5, 0.5, 0.0], 30.0, 14.0, 2.8, 1.0, 0.014, 0.010, 3e10,   0.03, 1.00, &["电器", "家电", "电气"]),
    industry!("食品加工",   [2.0, 2.5, 1.0, 0.0], 20.0, 28.0, 3.0, 2.0, 0.016, 0.015, 8e9,    0.07, 0.90, &["食品", "乳业", "粮油"]),
    industry!("养殖业",     [1.0, 2.0, 0.5, 0.0], 12.0, 30.0, 2.5, 1.2, 0.020, 0.020, 1.2e10, 0.20, 0.60, &["农牧", "牧业", "养殖"]),
    industry!("游戏",       [1.0, 2.0, 2.0, 0.0], 15.0, 40.0, 3.0, 4.0, 0.026, 0.045, 1e10,   0.16, 0.60, &["互娱", "网络", "娱乐"]),
    industry!("文化传媒",   [2.5, 2.0, 2.0, 0.0],  8.0, 45.0, 2.0, 3.0, 0.024, 0.035, 6e9,    0.20, 0.60, &["传媒", "文化", "影视", "出版"]),
    industry!("军工电子",   [1.5, 1.5, 1.5, 2.0], 30.0, 60.0, 4.0, 6.0, 0.024, 0.030, 1.2e10, 0.10, 0.60, &["电子", "防务", "航电"]),
    industry!("航运港口",   [2.5, 1.5, 0.0, 0.0],  8.0, 12.0, 1.2, 1.5, 0.015, 0.010, 2e10,   0.05, 1.00, &["港口", "航运", "海运", "物流"]),
    industry!("电网设备",   [2.0, 3.0, 3.0, 1.0], 15.0, 28.0, 2.5, 2.0, 0.019, 0.022, 1e10,   0.07, 0.84, &["电气", "电力", "智能"]),
    industry!("环保",       [2.0, 2.5, 2.0, 0.5],  8.0, 25.0, 1.5, 2.0, 0.018, 0.018, 6e9,    0.13, 0.72, &["环保", "环境", "水务"]),
    industry!("纺织服饰",   [2.0, 2.5, 0.5, 0.0], 10.0, 22.0, 1.8, 1.5, 0.018, 0.020, 5e9,    0.13, 0.78, &["服饰", "纺织", "时装"]),
];

/// Two-character name heads: places and the auspicious words A-share names
/// are made of.
#[rustfmt::skip]
const HEADS: &[&str] = &[
    "北京", "上海", "天津", "重庆", "江苏", "浙江", "广东", "深圳", "杭州", "南京",
    "宁波", "苏州", "无锡", "青岛", "厦门", "成都", "西安", "武汉", "长沙", "郑州",
    "合肥", "福建", "山东", "河南", "湖北", "湖南", "四川", "云南", "贵州", "广西",
    "安徽", "江西", "山西", "陕西", "甘肃", "吉林", "辽宁", "海南", "新疆", "大连",
    "珠海", "佛山", "常州", "温州", "绍兴", "烟台", "华夏", "中科", "东方", "国泰",
    "金山", "长江", "新华", "北方", "南方", "西部", "中原", "华东", "华南", "宏达",
    "鼎盛", "恒信", "永鑫", "天成", "同力", "瑞丰", "汇通", "博远", "联创", "腾达",
    "嘉诚", "盛世", "亿联", "康华", "景峰", "明德", "卓越", "润泽", "思源", "信达",
    "正泰", "海川", "远大", "华宇", "天润", "金禾", "凯盛", "光明", "万邦", "永安",
    "世纪", "泰和", "安信", "中孚", "银河", "星宇", "晨光", "兴业", "通达", "华凯",
];

/// Endings for stocks listed too recently to have an industry assigned.
const GENERIC_TAILS: &[&str] = &["科技", "股份", "集团", "新材", "智能"];

/// A well-known large cap, held under its real code, name and (申万
/// second-level) industry, so the codes people try first exist in the demo
/// data. Price and share count set its scale (rounded figures of the real
/// company); its daily path and fundamentals are drawn like any stock's.
pub(crate) struct Famous {
    pub code: &'static str,
    pub name: &'static str,
    /// One of [`INDUSTRIES`].
    pub industry: &'static str,
    /// Share price before the simulated history, yuan.
    price: f64,
    /// Total shares.
    total_share: f64,
}

macro_rules! famous {
    ($code:literal, $name:literal, $industry:literal, $price:expr, $shares:expr) => {
        Famous {
            code: $code,
            name: $name,
            industry: $industry,
            price: $price,
            total_share: $shares,
        }
    };
}

/// The large caps every A-share user knows. A data set includes those whose
/// code prefix gets enough stocks (all of them at the default sizes); the
/// rest of the universe stays generated.
#[rustfmt::skip]
pub(crate) const FAMOUS: &[Famous] = &[
    famous!("600519", "贵州茅台", "白酒",        1500.0, 1.256e9),
    famous!("000858", "五粮液",   "白酒",         130.0, 3.882e9),
    famous!("000568", "泸州老窖", "白酒",         130.0, 1.472e9),
    famous!("000001", "平安银行", "银行",          11.5, 1.941e10),
    famous!("600036", "招商银行", "银行",          40.0, 2.522e10),
    famous!("601398", "工商银行", "银行",           7.0, 3.564e11),
    famous!("601318", "中国平安", "保险",          50.0, 1.821e10),
    famous!("600030", "中信证券", "证券",          27.0, 1.482e10),
    famous!("300059", "东方财富", "证券",          22.0, 1.578e10),
    famous!("300750", "宁德时代", "电池",         250.0, 4.403e9),
    famous!("601012", "隆基绿能", "光伏设备",      18.0, 7.578e9),
    famous!("002594", "比亚迪",   "汽车整车",     105.0, 9.117e9),
    famous!("600900", "长江电力", "电力",          29.0, 2.447e10),
    famous!("000333", "美的集团", "白色家电",      72.0, 7.660e9),
    famous!("000651", "格力电器", "白色家电",      40.0, 5.601e9),
    famous!("600276", "恒瑞医药", "化学制药",      50.0, 6.380e9),
    famous!("300760", "迈瑞医疗", "医疗器械",     250.0, 1.212e9),
    famous!("002415", "海康威视", "计算机设备",    30.0, 9.240e9),
    famous!("002475", "立讯精密", "消费电子",      40.0, 7.260e9),
    famous!("688981", "中芯国际", "半导体",        90.0, 7.990e9),
    famous!("601088", "中国神华", "煤炭",          40.0, 1.987e10),
    famous!("600031", "三一重工", "工程机械",      18.0, 8.470e9),
    famous!("000002", "万科A",    "房地产开发",     7.0, 1.193e10),
    famous!("601919", "中远海控", "航运港口",      15.0, 1.590e10),
];

fn famous(code: &str) -> Option<&'static Famous> {
    FAMOUS.iter().find(|f| f.code == code)
}

/// Everything fixed about one stock for the life of the data set.
#[derive(Debug, Clone)]
pub(crate) struct Stock {
    pub code: String,
    pub name: String,
    /// Index into [`INDUSTRIES`]; `None` shows as a NULL industry.
    pub industry: Option<usize>,
    /// The industry whose parameters and daily factor drive the stock (also
    /// for the few whose classification is NULL).
    pub sector: usize,
    pub board: Board,
    pub is_st: bool,
    /// Listed shortly before the window (its IPO is simulated).
    pub new_listing: bool,
    /// Market value under ¥5bn at the start.
    pub small_cap: bool,
    /// First trading day, as an index into the simulated calendar (0 for
    /// seasoned stocks; recent listings come shortly before the window).
    pub listing_day: u32,
    /// The previous close before the first simulated day (the issue price
    /// for a new listing), cents.
    pub start_price: i64,
    /// Share counts (shares).
    pub total_share: i64,
    pub float_share: i64,
    pub free_share: i64,
    /// Market sensitivity, idiosyncratic daily volatility, base turnover.
    pub beta: f64,
    pub sigma: f64,
    pub turnover: f64,
    /// Last annual and trailing-twelve-month figures, yuan.
    pub profit: f64,
    pub profit_ttm: f64,
    pub revenue: f64,
    pub revenue_ttm: f64,
    pub book: f64,
    pub dividend: Option<f64>,
    pub dividend_ttm: Option<f64>,
    /// Shares of the day's amount traded in extra-large and large orders.
    pub elg_share: f64,
    pub lg_share: f64,
    /// Suspension inside the emitted window: (first window day, length).
    pub suspension: (u32, u32),
}

impl Stock {
    /// Whether the stock has a bar on window day `w` (0-based).
    pub fn suspended_on(&self, w: u32) -> bool {
        let (start, len) = self.suspension;
        w >= start && w < start + len
    }
}

/// Builds `n` stocks for the data set; `warmup` is the number of simulated
/// days before the window (new listings are placed in it), `days` the window
/// length and `suspended` the number of (stock, window day) pairs to remove.
pub(crate) fn build(seed: u64, n: u32, warmup: u32, days: u32, suspended: u64) -> Vec<Stock> {
    let mut rng = Rng::stream(seed, domain::UNIVERSE, 0);
    let codes = allocate_codes(&mut rng, n as usize);
    // Famous names are taken even when their stock is not in this data
    // set, so no generated stock is called 长江电力.
    let mut names: HashSet<String> = FAMOUS.iter().map(|f| f.name.to_string()).collect();
    let mut stocks: Vec<Stock> = codes
        .into_iter()
        .map(|(code, board)| make_stock(seed, code, board, warmup, &mut names))
        .collect();
    assign_suspensions(seed, &mut stocks, days, suspended);
    stocks
}

/// Unique codes, sorted, with their boards.
fn allocate_codes(rng: &mut Rng, n: usize) -> Vec<(String, Board)> {
    let counts = prefix_counts(n);
    let mut codes = Vec::with_capacity(n);
    for (p, &count) in PREFIXES.iter().zip(&counts) {
        // Partial Fisher–Yates: `count` distinct suffixes from the range.
        let mut pool: Vec<u32> = (p.2..p.3).collect();
        let mut chosen = Vec::with_capacity(count);
        for i in 0..count {
            let j = i + rng.below((pool.len() - i) as u64) as usize;
            pool.swap(i, j);
            chosen.push(format!("{}{:03}", p.0, pool[i]));
        }
        // The prefix's famous codes (as many as it has stocks) take the
        // places of the last generated codes that are not famous.
        let wanted: Vec<&str> = FAMOUS
            .iter()
            .map(|f| f.code)
            .filter(|c| c.starts_with(p.0))
            .take(count)
            .collect();
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|w| !chosen.iter().any(|c| c == w))
            .collect();
        let mut missing = missing.into_iter();
        for slot in (0..chosen.len()).rev() {
            if wanted.contains(&chosen[slot].as_str()) {
                continue;
            }
            match missing.next() {
                Some(code) => chosen[slot] = code.to_string(),
                None => break,
            }
        }
        codes.extend(chosen.into_iter().map(|c| (c, p.1)));
    }
    codes.sort();
    codes
}

/// How many codes each prefix gets: proportional to the weights, then the
/// remainder handed out one by one (weighted prefixes first).
fn prefix_counts(n: usize) -> Vec<usize> {
    let cap: Vec<usize> = PREFIXES.iter().map(|p| (p.3 - p.2) as usize).collect();
    let total_w: f64 = PREFIXES.iter().map(|p| p.4).sum();
    let mut counts: Vec<usize> = PREFIXES
        .iter()
        .zip(&cap)
        .map(|(p, &c)| ((n as f64 * p.4 / total_w) as usize).min(c))
        .collect();
    let mut left = n - counts.iter().sum::<usize>();
    while left > 0 {
        let weighted_room = (0..PREFIXES.len()).any(|i| PREFIXES[i].4 > 0.0 && counts[i] < cap[i]);
        let mut progressed = false;
        for i in 0..PREFIXES.len() {
            let eligible = counts[i] < cap[i] && (PREFIXES[i].4 > 0.0 || !weighted_room);
            if left > 0 && eligible {
                counts[i] += 1;
                left -= 1;
                progressed = true;
            }
        }
        assert!(progressed, "more stocks than codes ({})", code_capacity());
    }
    counts
}

fn make_stock(
    seed: u64,
    code: String,
    board: Board,
    warmup: u32,
    names: &mut HashSet<String>,
) -> Stock {
    let code_num: u64 = code.parse().expect("numeric code");
    let mut r = Rng::stream(seed, domain::STOCK, code_num);
    let weights: Vec<f64> = INDUSTRIES.iter().map(|i| i.boards[board.index()]).collect();
    let drawn_sector = r.weighted(&weights);
    let known = famous(&code);
    // A famous stock is seasoned, not ST, and classified in its industry.
    let sector = known.map_or(drawn_sector, |f| industry_index(f.industry));
    let ind = &INDUSTRIES[sector];

    let is_new = r.chance(0.01) && known.is_none();
    let is_st = !is_new && !board.is_growth() && r.chance(0.02) && known.is_none();
    // New listings often have no industry classification yet.
    let industry_null = if is_new {
        r.chance(0.35)
    } else {
        r.chance(0.0015) && known.is_none()
    };
    let industry = (!industry_null).then_some(sector);
    // The IPO lands in the 40 days before the window (or on its first day
    // when there is no warm-up), so every stock has a bar on every window day.
    let listing_day = if is_new {
        warmup.saturating_sub(1 + r.below(warmup.min(40) as u64) as u32)
    } else {
        0
    };
    let name = match known {
        Some(f) => f.name.to_string(),
        None => make_name(&mut r, ind, industry_null, is_st, names),
    };

    let mut size = Size::draw(&mut r, ind, board, is_st, is_new);
    if let Some(f) = known {
        size.rescale(f.price, f.total_share);
    }
    let mv0 = size.total_share as f64 * size.start_price as f64 / 100.0;
    let small = mv0 < 5e9;
    let fin = Financials::draw(&mut r, ind, mv0, is_st, is_new);
    let sigma = ind.sigma
        * r.lognormal(0.9, 0.2)
        * if board.is_growth() { 1.1 } else { 1.0 }
        * if is_st { 1.2 } else { 1.0 }
        * if small { 1.1 } else { 1.0 }
        * if known.is_some() { 0.8 } else { 1.0 };
    // The largest caps trade a smaller share of their float each day.
    let turnover = (ind.turnover
        * r.lognormal(1.0, 0.5)
        * if small { 1.3 } else { 1.0 }
        * if is_st { 1.4 } else { 1.0 }
        * if known.is_some() { 0.5 } else { 1.0 })
    .min(0.25);
    // Banks barely move with the market.
    let beta = r.range(0.6, 1.4) * if ind.name == "银行" { 0.7 } else { 1.0 };
    let elg_share = r.range(0.06, 0.22) + if mv0 > 5e10 { 0.1 } else { 0.0 };
    let lg_share = r.range(0.15, 0.25);

    Stock {
        code,
        name,
        industry,
        sector,
        board,
        is_st,
        new_listing: is_new,
        small_cap: small,
        listing_day,
        start_price: size.start_price,
        total_share: size.total_share,
        float_share: size.float_share,
        free_share: size.free_share,
        beta,
        sigma,
        turnover,
        profit: fin.profit,
        profit_ttm: fin.profit_ttm,
        revenue: fin.revenue,
        revenue_ttm: fin.revenue_ttm,
        book: fin.book,
        dividend: fin.dividend,
        dividend_ttm: fin.dividend_ttm,
        elg_share,
        lg_share,
        suspension: (0, 0),
    }
}

/// Chinese-style names: a two-character head and an industry ending
/// ("宁波银行", "中科微电", "同仁堂"); risk-warning stocks carry "ST" or
/// "*ST" before the head, as the exchanges shorten them. Unique while the
/// head × ending space allows (at the default sizes it always does).
fn make_name(
    r: &mut Rng,
    ind: &Industry,
    generic: bool,
    is_st: bool,
    names: &mut HashSet<String>,
) -> String {
    let tails = if generic { GENERIC_TAILS } else { ind.tails };
    let mut name = String::new();
    for _ in 0..24 {
        let head = HEADS[r.below(HEADS.len() as u64) as usize];
        name = if is_st {
            let mark = if r.chance(0.35) { "*ST" } else { "ST" };
            format!("{mark}{head}")
        } else {
            let tail = tails[r.below(tails.len() as u64) as usize];
            format!("{head}{tail}")
        };
        if names.insert(name.clone()) {
            break;
        }
    }
    name
}

/// Price and share counts. Size and price come first; the fundamentals are
/// then scaled from the market value so valuation ratios land near the
/// industry's typical figures.
struct Size {
    /// Cents.
    start_price: i64,
    total_share: i64,
    float_share: i64,
    free_share: i64,
}

impl Size {
    fn draw(r: &mut Rng, ind: &Industry, board: Board, is_st: bool, is_new: bool) -> Size {
        let st = if is_st { 0.25 } else { 1.0 };
        let board_mv = if board.is_growth() { 0.7 } else { 1.0 };
        let mv = (ind.mv * board_mv * st * r.lognormal(1.0, 0.9)).clamp(1.5e9, 2.5e12);
        let price = if is_st {
            r.lognormal(3.0, 0.35)
        } else if is_new {
            r.lognormal(if board == Board::Star { 40.0 } else { 22.0 }, 0.4)
        } else {
            r.lognormal(ind.price, 0.55)
        }
        .clamp(1.5, 1800.0);
        let total_share = (((mv / price) / 10_000.0).round() as i64).max(3_000) * 10_000;
        // Fresh listings float only their IPO tranche; many seasoned stocks
        // are fully circulating.
        let float_ratio = if is_new {
            r.range(0.08, 0.25)
        } else if r.chance(0.35) {
            1.0
        } else {
            r.range(0.45, 0.98)
        };
        let lots = |shares: f64| (shares / 100.0).round() as i64 * 100;
        let float_share = lots(total_share as f64 * float_ratio);
        let free_share = lots(float_share as f64 * r.range(0.45, 0.9));
        Size {
            start_price: (price * 100.0).round() as i64,
            total_share,
            float_share,
            free_share,
        }
    }
}

impl Size {
    /// Sets price and total shares (a famous stock's real scale), keeping
    /// the drawn float and free-float ratios.
    fn rescale(&mut self, price: f64, total_share: f64) {
        let total = ((total_share / 10_000.0).round() as i64).max(3_000) * 10_000;
        let ratio = |part: i64| part as f64 / self.total_share as f64;
        let lots = |shares: f64| (shares / 100.0).round() as i64 * 100;
        let float_share = lots(total as f64 * ratio(self.float_share));
        let free_share = lots(total as f64 * ratio(self.free_share)).min(float_share);
        *self = Size {
            start_price: (price * 100.0).round() as i64,
            total_share: total,
            float_share,
            free_share,
        };
    }
}

/// The index in [`INDUSTRIES`] of `name` (a name from [`FAMOUS`]).
fn industry_index(name: &str) -> usize {
    INDUSTRIES
        .iter()
        .position(|i| i.name == name)
        .unwrap_or_else(|| panic!("FAMOUS names industry {name}, which is not in INDUSTRIES"))
}

/// Fundamentals behind the valuation columns, in yuan.
struct Financials {
    profit: f64,
    profit_ttm: f64,
    revenue: f64,
    revenue_ttm: f64,
    book: f64,
    dividend: Option<f64>,
    dividend_ttm: Option<f64>,
}

impl Financials {
    fn draw(r: &mut Rng, ind: &Industry, mv0: f64, is_st: bool, is_new: bool) -> Financials {
        // Risk-warning stocks are loss makers; fresh listings rarely are.
        let loss_p = if is_new { ind.loss * 0.3 } else { ind.loss };
        let loss = is_st || r.chance(loss_p);
        let profit = if loss {
            -mv0 * r.range(0.01, 0.12)
        } else {
            mv0 / (ind.pe * r.lognormal(1.0, 0.4))
        };
        // The trailing figure drifts from the annual one and occasionally
        // crosses zero (pe NULL but pe_ttm set, or the reverse).
        let profit_ttm = if r.chance(0.04) {
            -profit * r.range(0.1, 0.5)
        } else {
            profit * r.lognormal(1.0, 0.2)
        };
        let revenue = mv0 / (ind.ps * r.lognormal(1.0, 0.5));
        let revenue_ttm = revenue * r.range(0.85, 1.25);
        let book = if is_st && r.chance(0.25) {
            -mv0 * r.range(0.05, 0.3)
        } else {
            mv0 / (ind.pb * r.lognormal(1.0, 0.35))
        };
        let pays = !is_new && profit > 0.0 && r.chance(ind.payer);
        let dividend = pays.then(|| profit * r.range(0.1, 0.6));
        let dividend_ttm = dividend.map(|d| d * r.range(0.8, 1.2));
        Financials {
            profit,
            profit_ttm,
            revenue,
            revenue_ttm,
            book,
            dividend,
            dividend_ttm,
        }
    }
}

/// Removes exactly `total` (stock, window day) pairs: a run of 1–5
/// consecutive days each for stocks taken in a seeded order; if one pass
/// over all stocks is not enough, runs are lengthened.
fn assign_suspensions(seed: u64, stocks: &mut [Stock], days: u32, total: u64) {
    if total == 0 || days == 0 {
        return;
    }
    let mut r = Rng::stream(seed, domain::SUSPENSION, 0);
    let mut order: Vec<usize> = (0..stocks.len()).collect();
    for i in 0..order.len() {
        let j = i + r.below((order.len() - i) as u64) as usize;
        order.swap(i, j);
    }
    let mut left = total;
    for &i in &order {
        if left == 0 {
            return;
        }
        let len = (1 + r.below(days.min(5) as u64)).min(left) as u32;
        let start = r.below((days - len + 1) as u64) as u32;
        stocks[i].suspension = (start, len);
        left -= len as u64;
    }
    for &i in &order {
        if left == 0 {
            return;
        }
        let (start, len) = stocks[i].suspension;
        let new_len = len + (days - len).min(left.min(u32::MAX as u64) as u32);
        left -= (new_len - len) as u64;
        stocks[i].suspension = (start.min(days - new_len), new_len);
    }
    assert_eq!(left, 0, "more suspended rows than stock-days");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_unique_sorted_and_board_consistent() {
        let stocks = build(42, 3600, 250, 30, 20);
        let codes: Vec<&str> = stocks.iter().map(|s| s.code.as_str()).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        for s in &stocks {
            assert_eq!(s.code.len(), 6);
            let board = match &s.code[..3] {
                "600" | "601" | "603" | "605" => Board::ShMain,
                "000" | "001" | "002" | "003" => Board::SzMain,
                "300" | "301" => Board::ChiNext,
                "688" | "689" => Board::Star,
                other => panic!("unexpected prefix {other}"),
            };
            assert_eq!(s.board, board);
            assert!(s.name.chars().count() <= 16);
            assert!(s.is_consistent());
        }
        let names: HashSet<&str> = stocks.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names.len(),
            stocks.len(),
            "names unique at the default size"
        );
        let suspended: u64 = stocks.iter().map(|s| s.suspension.1 as u64).sum();
        assert_eq!(suspended, 20);
    }

    #[test]
    fn famous_large_caps_hold_their_real_names_and_industries() {
        let stocks = build(42, 3600, 250, 30, 21);
        for f in FAMOUS {
            let s = stocks
                .iter()
                .find(|s| s.code == f.code)
                .unwrap_or_else(|| panic!("{} {} is not in the default universe", f.code, f.name));
            assert_eq!(s.name, f.name);
            assert_eq!(s.industry.map(|i| INDUSTRIES[i].name), Some(f.industry));
            assert!(
                !s.is_st && !s.new_listing && s.listing_day == 0,
                "{}",
                f.code
            );
            assert_eq!(s.start_price, (f.price * 100.0).round() as i64);
            assert!(s.is_consistent(), "{}", f.code);
            // No generated stock borrows a famous name.
            assert_eq!(stocks.iter().filter(|o| o.name == f.name).count(), 1);
        }
        let famous_codes: HashSet<&str> = FAMOUS.iter().map(|f| f.code).collect();
        assert_eq!(famous_codes.len(), FAMOUS.len(), "FAMOUS codes are unique");
        // A tiny data set takes only as many as its prefixes have room for.
        let tiny = build(42, 12, 0, 5, 0);
        assert_eq!(tiny.len(), 12);
        assert!(tiny.iter().any(|s| famous(&s.code).is_some()));
        let codes: HashSet<&str> = tiny.iter().map(|s| s.code.as_str()).collect();
        assert_eq!(codes.len(), 12, "codes unique");
    }

    #[test]
    fn prefix_counts_fill_overflow_prefixes() {
        assert_eq!(prefix_counts(3600).iter().sum::<usize>(), 3600);
        let big = prefix_counts(10_000);
        assert_eq!(big.iter().sum::<usize>(), 10_000);
        assert!(big[9..].iter().any(|&c| c > 0));
    }

    #[test]
    fn suspensions_can_exceed_one_run_per_stock() {
        let mut stocks = build(1, 4, 0, 6, 0);
        assign_suspensions(1, &mut stocks, 6, 23);
        let total: u32 = stocks.iter().map(|s| s.suspension.1).sum();
        assert_eq!(total, 23);
        assert!(stocks.iter().all(|s| s.suspension.0 + s.suspension.1 <= 6));
    }

    impl Stock {
        fn is_consistent(&self) -> bool {
            self.free_share <= self.float_share
                && self.float_share <= self.total_share
                && self.start_price > 0
                && (!self.is_st || !self.board.is_growth())
        }
    }
}
