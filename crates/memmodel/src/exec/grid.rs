//! How program factories spread work over the worker grid (tt_metal/common/work_split.cpp) and
//! how tt-metal normalizes the core ranges it is given (`CoreRangeSet::merge_ranges`,
//! tt_metal/common/core_coord.cpp): the core ranges circular buffers live on.

use crate::device::DeviceSpec;
use crate::program::{CoreRange, CoreRangeSet};

/// The device's compute-with-storage grid.
pub fn full(device: &DeviceSpec) -> CoreRangeSet {
    CoreRangeSet::one(CoreRange::grid(device.grid_x, device.grid_y))
}

/// `num_cores_to_corerangeset(start, n, grid, row_wise)`.
pub fn num_cores_to_corerangeset(
    start: (u32, u32),
    n: u32,
    grid: (u32, u32),
    row_wise: bool,
) -> CoreRangeSet {
    let (gx, gy) = grid;
    let mut out = Vec::with_capacity(3);
    let mut left = n;
    let (mut sx, mut sy) = start;
    if row_wise {
        if sx != 0 && left > gx - start.0 {
            out.push(CoreRange::new(sx, sy, gx - 1, sy));
            left -= gx - sx;
            (sx, sy) = (0, sy + 1);
        }
        if left > gx {
            let rows = left / gx;
            out.push(CoreRange::new(sx, sy, gx - 1, sy + rows - 1));
            left -= rows * (gx - sx);
            (sx, sy) = (0, sy + rows);
        }
        if left > 0 {
            out.push(CoreRange::new(sx, sy, sx + left - 1, sy));
        }
    } else {
        if sy != 0 && left > gy - start.1 {
            out.push(CoreRange::new(sx, sy, sx, gy - 1));
            left -= gy - sy;
            (sx, sy) = (sx + 1, 0);
        }
        if left > gy {
            let cols = left / gy;
            out.push(CoreRange::new(sx, sy, sx + cols - 1, gy - 1));
            left -= cols * (gy - sy);
            (sx, sy) = (sx + cols, 0);
        }
        if left > 0 {
            out.push(CoreRange::new(sx, sy, sx, sy + left - 1));
        }
    }
    CoreRangeSet(out)
}

/// The result of `split_work_to_cores(grid, units, row_wise)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkSplit {
    pub num_cores: u32,
    pub all: CoreRangeSet,
    pub group_1: CoreRangeSet,
    pub group_2: CoreRangeSet,
    pub units_1: u64,
    pub units_2: u64,
}

/// `split_work_to_cores(grid_size, units_to_divide, row_wise)`.
pub fn split_work(device: &DeviceSpec, units: u64, row_wise: bool) -> WorkSplit {
    split_work_grid((device.grid_x, device.grid_y), units, row_wise)
}

pub fn split_work_grid(grid: (u32, u32), units: u64, row_wise: bool) -> WorkSplit {
    let (gx, gy) = grid;
    let max = u64::from(gx * gy);
    if units == 0 {
        return WorkSplit {
            num_cores: 0,
            all: CoreRangeSet::default(),
            group_1: CoreRangeSet::default(),
            group_2: CoreRangeSet::default(),
            units_1: 0,
            units_2: 0,
        };
    }
    let (target, all) = if units >= max {
        (max as u32, CoreRangeSet::one(CoreRange::grid(gx, gy)))
    } else {
        (
            units as u32,
            num_cores_to_corerangeset((0, 0), units as u32, grid, row_wise),
        )
    };
    let units_1 = units / u64::from(target);
    let more = (units % u64::from(target)) as u32;
    if more == 0 {
        return WorkSplit {
            num_cores: target,
            group_1: all.clone(),
            all,
            group_2: CoreRangeSet::default(),
            units_1,
            units_2: 0,
        };
    }
    let g1 = num_cores_to_corerangeset((0, 0), more, grid, row_wise);
    let last = *g1.0.last().expect("at least one core");
    let start = if row_wise {
        if last.x1 != gx - 1 {
            (last.x1 + 1, last.y1)
        } else {
            (0, last.y1 + 1)
        }
    } else if last.y1 != gy - 1 {
        (last.x1, last.y1 + 1)
    } else {
        (last.x1 + 1, 0)
    };
    let g2 = num_cores_to_corerangeset(start, target - more, grid, row_wise);
    WorkSplit {
        num_cores: target,
        all,
        group_1: g1,
        group_2: g2,
        units_1: units_1 + 1,
        units_2: units_1,
    }
}

/// The cores of `split_blocks_for_tilize(grid, nblocks)` (work_split_tilize.hpp): blocks per
/// core rounded up, the cores that takes laid out row by row from (0, 0).
pub fn split_blocks(device: &DeviceSpec, nblocks: u64) -> CoreRangeSet {
    let area = u64::from(device.grid_x * device.grid_y);
    if nblocks == 0 {
        return CoreRangeSet::default();
    }
    let per_core = nblocks.div_ceil(area);
    let ncores = nblocks.div_ceil(per_core) as u32;
    num_cores_to_corerangeset((0, 0), ncores, (device.grid_x, device.grid_y), true)
}

/// `CoreRangeSet::merge_ranges()`: the union of the ranges, rebuilt row by row and stacked
/// into rectangles, sorted by start then end (x before y). A single range is kept as is.
pub fn merge_ranges(set: &CoreRangeSet) -> CoreRangeSet {
    if set.0.len() <= 1 {
        return set.clone();
    }
    let max_x = set.0.iter().map(|r| r.x1).max().unwrap_or(0) as usize;
    let max_y = set.0.iter().map(|r| r.y1).max().unwrap_or(0) as usize;
    let min_y = set.0.iter().map(|r| r.y0).min().unwrap_or(0) as usize;
    let mut grid = vec![vec![false; max_x + 2]; max_y + 1];
    for r in &set.0 {
        for row in grid.iter_mut().take(r.y1 as usize + 1).skip(r.y0 as usize) {
            for cell in row.iter_mut().take(r.x1 as usize + 1).skip(r.x0 as usize) {
                *cell = true;
            }
        }
    }
    let mut rects: Vec<CoreRange> = Vec::new();
    for (y, row) in grid.iter().enumerate().skip(min_y) {
        let mut x = 0;
        while x <= max_x {
            if row[x] {
                let start = x;
                while row[x] {
                    x += 1;
                }
                let (x0, x1, y) = (start as u32, x as u32 - 1, y as u32);
                match rects
                    .iter_mut()
                    .find(|r| r.x0 == x0 && r.x1 == x1 && r.y1 + 1 == y)
                {
                    Some(r) => r.y1 = y,
                    None => rects.push(CoreRange::new(x0, y, x1, y)),
                }
            } else {
                x += 1;
            }
        }
    }
    rects.sort_by_key(|r| (r.x0, r.y0, r.x1, r.y1));
    CoreRangeSet(rects)
}

/// The union of two sets, merged as a circular buffer's core ranges are.
pub fn union(a: &CoreRangeSet, b: &CoreRangeSet) -> CoreRangeSet {
    merge_ranges(&a.merged(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> CoreRangeSet {
        CoreRangeSet::parse(text).unwrap()
    }

    #[test]
    fn splits_seen_on_the_runtime() {
        // Core range sets of TransposeWH circular buffers read from the runtime's graph capture.
        assert_eq!(split_work_grid((8, 8), 32, false).all, s("{[0-0 - 3-7]}"));
        assert_eq!(split_work_grid((11, 10), 80, false).all, s("{[0-0 - 7-9]}"));
        assert_eq!(
            merge_ranges(&split_work_grid((11, 10), 108, false).all),
            s("{[0-0 - 10-7], [0-8 - 9-9]}")
        );
        assert_eq!(
            merge_ranges(&split_work_grid((11, 10), 32, false).all),
            s("{[0-0 - 3-1], [0-2 - 2-9]}")
        );
        assert_eq!(split_work_grid((8, 8), 1, false).all, s("{[0-0 - 0-0]}"));
    }

    #[test]
    fn uneven_work_makes_two_groups() {
        let w = split_work_grid((8, 8), 100, false);
        assert_eq!((w.num_cores, w.units_1, w.units_2), (64, 2, 1));
        assert_eq!(w.group_1.cores() + w.group_2.cores(), 64);
        assert_eq!(w.group_1.cores(), 36);
    }
}
