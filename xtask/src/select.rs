//! The case filters every case-running command shares (`estimate`, `probe`, `oom`, ...): the
//! matrix from shapes.toml narrowed by op, shape set, memory, dtype, layout and device, or an
//! ad-hoc case from `--shape`.

use anyhow::{bail, Context, Result};
use clap::Args;
use memmodel::config::{self, Matrix};
use memmodel::{
    BufferType, Case, DType, DeviceLayout, DeviceSpec, Expectation, Layout, MemoryConfig,
    ParamValue, Params, Shape,
};
use std::path::PathBuf;

#[derive(Args, Debug, Clone, Default)]
pub struct CaseArgs {
    /// The case matrix to read.
    #[arg(long, value_name = "FILE")]
    pub shapes: Option<PathBuf>,
    /// Only these ops (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub op: Vec<String>,
    /// Only these shape sets of shapes.toml.
    #[arg(long = "shape-set", value_delimiter = ',')]
    pub shape_set: Vec<String>,
    /// An ad-hoc case instead of the matrix: the device tensor's shape as given (unless
    /// --device-layout), e.g. 1,96,2160,3840. Repeat for ops with several operands.
    #[arg(long, value_name = "DIMS")]
    pub shape: Vec<String>,
    /// How an ad-hoc shape is held on device: as-given (default), nhwc, nhwc-flat. With the
    /// matrix: only cases with this device layout.
    #[arg(long = "device-layout")]
    pub device_layout: Option<String>,
    /// Memory config of inputs and outputs: l1, dram, l1_height_sharded, l1_width_sharded,
    /// l1_block_sharded, or l1->default / dram->default (inputs there, the op called without
    /// memory_config) (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub memory: Vec<String>,
    /// Override the inputs' memory (ad-hoc cases and the matrix alike).
    #[arg(long = "input-memory")]
    pub input_memory: Option<String>,
    /// Override the outputs' memory: l1, dram, or `default` (the call omits memory_config and
    /// the op's function decides: DRAM for matmul/linear/addmm/concat/stack, else the input's).
    #[arg(long = "output-memory")]
    pub output_memory: Option<String>,
    /// Only these dtypes (bfloat16, float32, bfloat8_b, ...).
    #[arg(long, value_delimiter = ',')]
    pub dtype: Vec<String>,
    /// Only these page layouts (tile, row_major).
    #[arg(long, value_delimiter = ',')]
    pub layout: Vec<String>,
    /// Only these devices (n150, p150).
    #[arg(long, value_delimiter = ',')]
    pub device: Vec<String>,
    /// An op parameter for ad-hoc cases, e.g. --param dim=-1 --param split_sizes=48,48 (with
    /// `diff --random`: pinned on every draw; draws the op rejects with it are drawn again).
    #[arg(long, value_name = "NAME=VALUE")]
    pub param: Vec<String>,
}

/// Boards named on the command line (`--device`), or every board when none is.
pub fn devices(names: &[String]) -> Result<Vec<&'static DeviceSpec>> {
    if names.is_empty() {
        return Ok(memmodel::device::DEVICES.to_vec());
    }
    names
        .iter()
        .map(|d| DeviceSpec::by_name(d).map_err(|e| anyhow::anyhow!("--device: {e}")))
        .collect()
}

impl CaseArgs {
    /// The same selection as command-line arguments (for a child `cargo xtask` command).
    pub fn to_cli(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut one = |flag: &str, value: &str| {
            out.push(format!("--{flag}"));
            out.push(value.to_string());
        };
        if let Some(p) = &self.shapes {
            one("shapes", &p.to_string_lossy());
        }
        for (flag, values) in [
            ("op", &self.op),
            ("shape-set", &self.shape_set),
            ("shape", &self.shape),
            ("memory", &self.memory),
            ("dtype", &self.dtype),
            ("layout", &self.layout),
            ("device", &self.device),
            ("param", &self.param),
        ] {
            for v in values {
                one(flag, v);
            }
        }
        for (flag, value) in [
            ("device-layout", &self.device_layout),
            ("input-memory", &self.input_memory),
            ("output-memory", &self.output_memory),
        ] {
            if let Some(v) = value {
                one(flag, v);
            }
        }
        out
    }
}

fn parse_all<T>(
    items: &[String],
    what: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>> {
    items
        .iter()
        .map(|s| parse(s).map_err(|e| anyhow::anyhow!("--{what}: {e}")))
        .collect()
}

fn memory(s: &str) -> Result<BufferType, String> {
    if let Ok(MemoryConfig::Sharded(_)) = s.parse::<MemoryConfig>() {
        return Err(format!(
            "`{s}` is sharded: sharded configs apply to inputs and outputs together, use --memory (allowed here: l1, dram)"
        ));
    }
    match s.parse::<BufferType>()? {
        BufferType::L1Small => {
            Err("l1_small is not a tensor memory config (allowed: l1, dram)".into())
        }
        b => Ok(b),
    }
}

/// `--memory` on the matrix and ad-hoc cases: a memory config given to the call, or a call
/// without memory_config whose inputs are in a memory (`l1->default`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum MemoryFilter {
    Given(MemoryConfig),
    Default(BufferType),
}

impl MemoryFilter {
    fn matches(self, case: &Case) -> bool {
        match self {
            MemoryFilter::Given(m) => !case.default_output_memory && m == case.output_config(),
            MemoryFilter::Default(b) => case.default_output_memory && case.input_memory == b,
        }
    }
}

fn memory_filter(s: &str) -> Result<MemoryFilter, String> {
    match s.split_once("->") {
        Some((input, output)) if output.trim().eq_ignore_ascii_case("default") => {
            match memory(input)? {
                b @ (BufferType::L1 | BufferType::Dram) => Ok(MemoryFilter::Default(b)),
                other => Err(format!(
                    "`{other}` inputs take no default (allowed: l1->default, dram->default)"
                )),
            }
        }
        Some(_) => Err(format!(
            "`{s}`: with `->` the output side is `default` (allowed: l1->default, dram->default; \
             --input-memory / --output-memory set the sides apart)"
        )),
        None => memory_config(s).map(MemoryFilter::Given),
    }
}

/// `--memory`: an interleaved buffer type or a sharded L1 config.
fn memory_config(s: &str) -> Result<MemoryConfig, String> {
    if s.trim().eq_ignore_ascii_case("l1_small") {
        return Err(format!(
            "l1_small is not a tensor memory config (allowed: l1, dram, {})",
            memmodel::shard::SHARDED_MEMORIES.join(", ")
        ));
    }
    s.parse::<MemoryConfig>()
}

/// `dim=-1`, `split_sizes=48,48`, `mode=nearest`, `bias=true`, `probability=0.2`.
pub fn parse_param(text: &str) -> Result<(String, ParamValue)> {
    let (name, value) = text
        .split_once('=')
        .with_context(|| format!("--param `{text}`: expected NAME=VALUE"))?;
    let value = value.trim();
    let parsed = if let Ok(i) = value.parse::<i64>() {
        ParamValue::Int(i)
    } else if value.contains(',') || value.starts_with('[') {
        let inner = value.trim_start_matches('[').trim_end_matches(']');
        let ints = inner
            .split(',')
            .map(|v| v.trim().parse::<i64>())
            .collect::<Result<Vec<_>, _>>();
        ParamValue::Ints(
            ints.with_context(|| format!("--param `{text}`: a list must hold integers"))?,
        )
    } else if let Ok(b) = value.parse::<bool>() {
        ParamValue::Bool(b)
    } else if let Ok(x) = value.parse::<f64>() {
        ParamValue::Float(x)
    } else {
        ParamValue::Str(value.to_string())
    };
    Ok((name.trim().to_string(), parsed))
}

/// Read and parse the matrix file.
pub fn load_matrix(path: Option<&PathBuf>) -> Result<Matrix> {
    let path = path
        .cloned()
        .unwrap_or_else(|| crate::paths::workspace_root().join("shapes.toml"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let shown = path
        .strip_prefix(crate::paths::workspace_root())
        .unwrap_or(&path)
        .display()
        .to_string();
    config::parse(&text, &shown).map_err(|e| anyhow::anyhow!("{e}"))
}

impl CaseArgs {
    /// The filters of a random draw (`diff --random`): ops, dtypes, layouts, memories, devices.
    /// Flags that name a matrix (shape sets, shapes) do not apply; `--param` is pinned on every
    /// draw ([`CaseArgs::pinned_params`]).
    pub fn random_filter(&self, max_bytes: Option<u64>) -> Result<memmodel::space::Filter> {
        for (set, flag) in [
            (!self.shape_set.is_empty(), "--shape-set"),
            (!self.shape.is_empty(), "--shape"),
            (self.shapes.is_some(), "--shapes"),
            (self.input_memory.is_some(), "--input-memory"),
            (self.output_memory.is_some(), "--output-memory"),
            (self.device_layout.is_some(), "--device-layout"),
        ] {
            if set {
                bail!("{flag} does not apply to --random (it draws shapes, params and memories from each op's call space; filter with --op, --dtype, --layout, --memory, --device)");
            }
        }
        Ok(memmodel::space::Filter {
            ops: self
                .op
                .iter()
                .map(|n| memmodel::find_op(n.trim()).map_err(|e| anyhow::anyhow!("--op: {e}")))
                .collect::<Result<_>>()?,
            dtypes: parse_all(&self.dtype, "dtype", |s| {
                s.parse::<DType>().map_err(|e| e.to_string())
            })?,
            layouts: parse_all(&self.layout, "layout", |s| s.parse::<Layout>())?,
            memories: parse_all(&self.memory, "memory", memory_config)?,
            devices: parse_all(&self.device, "device", DeviceSpec::by_name)?,
            max_bytes,
            tile_aligned: false,
        })
    }

    /// The `--param` values, pinned on every random draw (a setting to study across the call
    /// space, e.g. conv2d's `slice=dram_height`).
    pub fn pinned_params(&self) -> Result<Params> {
        let mut params = Params::default();
        for p in &self.param {
            let (k, v) = parse_param(p)?;
            params.set(&k, v);
        }
        Ok(params)
    }

    /// The selected cases, in matrix order.
    pub fn select(&self) -> Result<Vec<Case>> {
        let memories = parse_all(&self.memory, "memory", memory_filter)?;
        let dtypes = parse_all(&self.dtype, "dtype", |s| {
            s.parse::<DType>().map_err(|e| e.to_string())
        })?;
        let layouts = parse_all(&self.layout, "layout", |s| s.parse::<Layout>())?;
        let devices = parse_all(&self.device, "device", DeviceSpec::by_name)?;
        let device_layout = self
            .device_layout
            .as_deref()
            .map(|s| {
                s.parse::<DeviceLayout>()
                    .map_err(|e| anyhow::anyhow!("--device-layout: {e}"))
            })
            .transpose()?;
        let input_memory = self
            .input_memory
            .as_deref()
            .map(|s| memory(s).map_err(|e| anyhow::anyhow!("--input-memory: {e}")))
            .transpose()?;
        let default_output = self
            .output_memory
            .as_deref()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("default"));
        let output_memory = self
            .output_memory
            .as_deref()
            .filter(|_| !default_output)
            .map(|s| memory(s).map_err(|e| anyhow::anyhow!("--output-memory: {e} (or `default`)")))
            .transpose()?;
        let ops = self
            .op
            .iter()
            .map(|name| memmodel::find_op(name.trim()).map_err(|e| anyhow::anyhow!("--op: {e}")))
            .collect::<Result<Vec<_>>>()?;

        let mut cases = if self.shape.is_empty() {
            if !self.param.is_empty() {
                bail!("--param applies to ad-hoc cases (--shape); edit shapes.toml to change the matrix's parameters");
            }
            let matrix = load_matrix(self.shapes.as_ref())?;
            for set in &self.shape_set {
                if !matrix.sets.contains_key(set) {
                    let known: Vec<&str> = matrix.sets.keys().map(String::as_str).collect();
                    bail!(
                        "--shape-set: unknown shape set `{set}` (known: {})",
                        known.join(", ")
                    );
                }
            }
            matrix
                .cases
                .into_iter()
                .filter(|c| ops.is_empty() || ops.iter().any(|o| o.name == c.op.name))
                .filter(|c| {
                    self.shape_set.is_empty()
                        || c.shape_set
                            .as_ref()
                            .is_some_and(|s| self.shape_set.contains(s))
                })
                .filter(|c| memories.is_empty() || memories.iter().any(|m| m.matches(c)))
                .filter(|c| dtypes.is_empty() || dtypes.contains(&c.dtype))
                .filter(|c| layouts.is_empty() || layouts.contains(&c.layout))
                .filter(|c| devices.is_empty() || devices.iter().any(|d| d.name == c.device.name))
                .filter(|c| device_layout.is_none_or(|l| l == c.device_layout))
                .collect::<Vec<_>>()
        } else {
            if !self.shape_set.is_empty() {
                bail!("--shape and --shape-set exclude each other");
            }
            let shapes = self
                .shape
                .iter()
                .map(|s| Shape::parse(s).map_err(|e| anyhow::anyhow!("--shape {s}: {e}")))
                .collect::<Result<Vec<_>>>()?;
            let mut params = Params::default();
            for p in &self.param {
                let (k, v) = parse_param(p)?;
                params.set(&k, v);
            }
            let ops: Vec<_> = if ops.is_empty() {
                memmodel::OPS.iter().collect()
            } else {
                ops
            };
            let memories = if memories.is_empty() {
                vec![
                    MemoryFilter::Given(MemoryConfig::Interleaved(BufferType::L1)),
                    MemoryFilter::Given(MemoryConfig::Interleaved(BufferType::Dram)),
                ]
            } else {
                memories
            };
            let dtypes = if dtypes.is_empty() {
                vec![DType::Bfloat16]
            } else {
                dtypes
            };
            let layouts = if layouts.is_empty() {
                vec![Layout::Tile]
            } else {
                layouts
            };
            let devices = if devices.is_empty() {
                memmodel::device::DEVICES.to_vec()
            } else {
                devices
            };
            let explicit_ops = !self.op.is_empty();
            let mut out = Vec::new();
            for op in ops {
                for &dtype in &dtypes {
                    for &layout in &layouts {
                        for &memory in &memories {
                            for &device in &devices {
                                let (config, default) = match memory {
                                    MemoryFilter::Given(m) => (m, false),
                                    MemoryFilter::Default(b) => {
                                        (MemoryConfig::Interleaved(b), true)
                                    }
                                };
                                let mut case = Case {
                                    op,
                                    shape_set: None,
                                    model_inputs: shapes.clone(),
                                    device_layout: device_layout.unwrap_or(DeviceLayout::AsGiven),
                                    params: params.clone(),
                                    dtype,
                                    layout,
                                    input_memory: config.buffer_type(),
                                    output_memory: config.buffer_type(),
                                    default_output_memory: false,
                                    sharding: config.sharding(),
                                    device,
                                    expect: Expectation::Any,
                                };
                                if default {
                                    case = case.with_default_output_memory();
                                }
                                match case.signature() {
                                    Ok(_) => out.push(case),
                                    // Named ops must accept the case; with all ops, skip those
                                    // that cannot take this shape.
                                    Err(e) if explicit_ops => bail!("{e}"),
                                    Err(_) => {}
                                }
                            }
                        }
                    }
                }
            }
            out
        };
        for c in &mut cases {
            if let Some(m) = input_memory {
                c.input_memory = m;
                c.signature().map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            if let Some(m) = output_memory {
                // The call gives memory_config now.
                c.default_output_memory = false;
                c.output_memory = m;
                c.signature().map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            if default_output {
                *c = c.clone().with_default_output_memory();
                c.signature().map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        // `--output-memory default` turns an l1 case into the l1->default one the matrix may
        // hold already (the seed sets do): each case once.
        let mut ids = std::collections::HashSet::new();
        cases.retain(|c| ids.insert(c.id()));
        if cases.is_empty() {
            bail!("no case matches the filters");
        }
        Ok(cases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        cases: CaseArgs,
    }

    #[test]
    fn a_selection_survives_the_trip_through_its_command_line() {
        use clap::Parser;
        let given = Cli::parse_from([
            "x",
            "--op",
            "add,split",
            "--memory",
            "l1,dram",
            "--device",
            "n150",
            "--shape",
            "1,2,3,4",
            "--param",
            "split_sizes=1,1",
            "--device-layout",
            "nhwc",
            "--output-memory",
            "default",
            "--shapes",
            "/tmp/s.toml",
        ]);
        let again = Cli::parse_from(std::iter::once("x".to_string()).chain(given.cases.to_cli()));
        assert_eq!(format!("{:?}", given.cases), format!("{:?}", again.cases));
    }

    #[test]
    fn params_parse() {
        assert_eq!(
            parse_param("dim=-1").unwrap(),
            ("dim".into(), ParamValue::Int(-1))
        );
        assert_eq!(
            parse_param("split_sizes=48,48").unwrap().1,
            ParamValue::Ints(vec![48, 48])
        );
        assert_eq!(
            parse_param("mode=nearest").unwrap().1,
            ParamValue::Str("nearest".into())
        );
        assert_eq!(parse_param("bias=true").unwrap().1, ParamValue::Bool(true));
        assert!(parse_param("dim").is_err());
    }

    #[test]
    fn ad_hoc_case_of_the_issue() {
        let args = CaseArgs {
            op: vec!["add".into()],
            shape: vec!["1,64,640,400".into()],
            memory: vec!["l1".into()],
            device: vec!["n150".into()],
            ..Default::default()
        };
        let cases = args.select().unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(
            cases[0].id(),
            "add/[1,64,640,400]/as-given/bfloat16/tile/l1/n150"
        );
    }

    #[test]
    fn memory_selects_calls_without_memory_config() {
        let select = |memory: &[&str], output: Option<&str>| {
            CaseArgs {
                op: vec!["linear".into()],
                shape_set: vec!["seed_9720482_linear".into()],
                memory: memory.iter().map(|m| m.to_string()).collect(),
                output_memory: output.map(str::to_string),
                device: vec!["n150".into()],
                ..Default::default()
            }
            .select()
            .unwrap()
        };
        let default = select(&["l1->default"], None);
        assert!(!default.is_empty());
        assert!(default
            .iter()
            .all(|c| c.default_output_memory && c.output_memory == BufferType::Dram));
        let explicit = select(&["l1"], None);
        assert_eq!(explicit.len(), default.len());
        assert!(explicit.iter().all(|c| !c.default_output_memory));
        // Turning the l1 and l1->default cases into l1->default ones keeps each once.
        let both = select(&["l1", "l1->default"], Some("default"));
        assert_eq!(both.len(), default.len());
        let ad_hoc = CaseArgs {
            op: vec!["linear".into()],
            shape: vec!["1000,1,1024".into()],
            memory: vec!["l1->default".into()],
            device: vec!["n150".into()],
            ..Default::default()
        }
        .select()
        .unwrap();
        assert_eq!(
            ad_hoc[0].id(),
            "linear/[1000,1,1024]/as-given/bfloat16/tile/l1->default/n150"
        );
        let e = CaseArgs {
            memory: vec!["l1->dram".into()],
            ..Default::default()
        }
        .select()
        .unwrap_err()
        .to_string();
        assert!(e.contains("--memory") && e.contains("l1->default"), "{e}");
    }

    #[test]
    fn bad_filters_name_the_flag_and_the_allowed_values() {
        let bad = |args: CaseArgs| args.select().unwrap_err().to_string();
        let e = bad(CaseArgs {
            op: vec!["sillu".into()],
            ..Default::default()
        });
        assert!(e.contains("--op") && e.contains("silu"), "{e}");
        let e = bad(CaseArgs {
            memory: vec!["sram".into()],
            ..Default::default()
        });
        assert!(e.contains("--memory") && e.contains("dram"), "{e}");
        let e = bad(CaseArgs {
            shape: vec!["1,0".into()],
            ..Default::default()
        });
        assert!(e.contains("--shape") && e.contains("at least 1"), "{e}");
        let e = bad(CaseArgs {
            shape_set: vec!["nope".into()],
            ..Default::default()
        });
        assert!(e.contains("yolov12_1280"), "{e}");
    }
}
