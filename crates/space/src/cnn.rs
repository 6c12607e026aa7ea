//! The paper's CNN space (Zoph & Le 2017, Section 3.1–3.3): per layer a filter height and width,
//! optional strides, a number of filters, optional pooling, and an anchor point choosing skip
//! inputs from any earlier layer.
//!
//! Canonical string: layers joined by `;`, each `FHxFW[sSHxSW]-FILTERS[-mp][<i,j,…]`, e.g.
//! `3x3-36;5x7s2x1-48-mp<0` (layer 1 reads layer 0). A layer without `<…` has no chosen inputs and
//! reads the image (the paper's first repair rule, applied by the child compiler).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::limits::{MAX_FILTERS, MAX_KERNEL, MAX_LAYERS, MAX_STRIDE};
use crate::{Action, Decision, SpaceError, TokenType};

/// Pooling after a layer (the paper's "v3" variant places max-pooling layers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// No pooling.
    #[default]
    None,
    /// 2×2 max pooling with stride 2.
    Max,
}

fn one() -> u32 {
    1
}
fn is_one(v: &u32) -> bool {
    *v == 1
}
fn is_none(p: &Pool) -> bool {
    *p == Pool::None
}

/// One convolutional layer: conv(filter_h × filter_w, filters, stride) + BN + ReLU in the child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CnnLayer {
    pub filter_h: u32,
    pub filter_w: u32,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub stride_h: u32,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub stride_w: u32,
    pub filters: u32,
    #[serde(default, skip_serializing_if = "is_none")]
    pub pool: Pool,
    /// Earlier layers (0-based, ascending) whose outputs are concatenated as this layer's input.
    /// Empty: the layer reads the image.
    #[serde(default)]
    pub inputs: Vec<usize>,
}

/// A CNN of the paper's space: layers in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CnnArch {
    pub layers: Vec<CnnLayer>,
}

impl CnnArch {
    /// Structural validity: at least one layer, positive sizes, inputs strictly earlier and sorted.
    pub fn validate(&self) -> Result<(), SpaceError> {
        let bad = |reason: String| SpaceError::NotInSpace { space: "cnn", reason };
        if self.layers.is_empty() {
            return Err(bad("an architecture needs at least one layer".into()));
        }
        if self.layers.len() > MAX_LAYERS {
            return Err(bad(format!("{} layers; at most {MAX_LAYERS} are allowed", self.layers.len())));
        }
        for (i, l) in self.layers.iter().enumerate() {
            if l.filters > MAX_FILTERS || l.filter_h > MAX_KERNEL || l.filter_w > MAX_KERNEL {
                return Err(bad(format!(
                    "layer {i}: {}x{} filters × {} exceed the caps ({MAX_KERNEL}x{MAX_KERNEL}, {MAX_FILTERS} filters)",
                    l.filter_h, l.filter_w, l.filters
                )));
            }
            if l.stride_h > MAX_STRIDE || l.stride_w > MAX_STRIDE {
                return Err(bad(format!("layer {i}: strides above {MAX_STRIDE}")));
            }
            if l.filter_h == 0 || l.filter_w == 0 || l.filters == 0 {
                return Err(bad(format!("layer {i}: filter sizes and filters must be positive")));
            }
            if l.stride_h == 0 || l.stride_w == 0 {
                return Err(bad(format!("layer {i}: strides must be positive")));
            }
            if l.inputs.iter().any(|&j| j >= i) {
                return Err(bad(format!("layer {i}: inputs {:?} must name earlier layers (< {i})", l.inputs)));
            }
            if l.inputs.windows(2).any(|w| w[0] >= w[1]) {
                return Err(bad(format!("layer {i}: inputs {:?} must be ascending without repeats", l.inputs)));
            }
        }
        Ok(())
    }

    /// The same network with every layer's filter count multiplied by `factor` (rounded, at
    /// least 1): the paper's "more filters" step for a final model. Shapes, strides, pooling and
    /// skips are unchanged.
    pub fn widened(&self, factor: f64) -> CnnArch {
        self.widened_to(factor, 1)
    }

    /// [`CnnArch::widened`], then every filter count rounded up to a multiple of `multiple`
    /// (1 or 0: no rounding). A CPU's SIMD kernels work on 8 `f32` lanes (AVX2), so 57 filters
    /// cost what 64 do; MobileNet's `make_divisible` does the same for the same reason.
    pub fn widened_to(&self, factor: f64, multiple: u32) -> CnnArch {
        let m = multiple.max(1);
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let f = ((l.filters as f64 * factor).round() as u32).max(1);
                CnnLayer { filters: f.div_ceil(m).saturating_mul(m), ..l.clone() }
            })
            .collect();
        CnnArch { layers }
    }

    /// Number of layers.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Layers that read the image because they chose no input (the paper's first repair rule).
    pub fn image_readers(&self) -> Vec<usize> {
        (0..self.layers.len()).filter(|&i| self.layers[i].inputs.is_empty()).collect()
    }

    /// Layers whose output feeds no later layer; the child concatenates them all into the
    /// classifier (the paper's second repair rule). The last layer is always one.
    pub fn sinks(&self) -> Vec<usize> {
        let mut feeds = vec![false; self.layers.len()];
        for l in &self.layers {
            for &j in &l.inputs {
                if let Some(f) = feeds.get_mut(j) {
                    *f = true;
                }
            }
        }
        (0..self.layers.len()).filter(|&i| !feeds[i]).collect()
    }
}

impl fmt::Display for CnnLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.filter_h, self.filter_w)?;
        if self.stride_h != 1 || self.stride_w != 1 {
            write!(f, "s{}x{}", self.stride_h, self.stride_w)?;
        }
        write!(f, "-{}", self.filters)?;
        if self.pool == Pool::Max {
            write!(f, "-mp")?;
        }
        if !self.inputs.is_empty() {
            let ins: Vec<String> = self.inputs.iter().map(|i| i.to_string()).collect();
            write!(f, "<{}", ins.join(","))?;
        }
        Ok(())
    }
}

impl fmt::Display for CnnArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in self.layers.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            l.fmt(f)?;
        }
        Ok(())
    }
}

fn parse_layer(s: &str) -> Result<CnnLayer, String> {
    let (body, inputs) = match s.split_once('<') {
        Some((b, ins)) => {
            let inputs = ins
                .split(',')
                .map(|x| x.trim().parse::<usize>().map_err(|_| format!("bad input index {x:?}")))
                .collect::<Result<Vec<_>, _>>()?;
            (b, inputs)
        }
        None => (s, Vec::new()),
    };
    let mut parts = body.split('-');
    let kernel = parts.next().ok_or("missing filter size")?;
    let filters = parts.next().ok_or("missing number of filters after '-'")?;
    let pool = match parts.next() {
        None => Pool::None,
        Some("mp") => Pool::Max,
        Some(other) => return Err(format!("unknown suffix {other:?} (expected mp)")),
    };
    if let Some(extra) = parts.next() {
        return Err(format!("unexpected {extra:?}"));
    }
    let (size, stride) = match kernel.split_once('s') {
        Some((k, st)) => (k, Some(st)),
        None => (kernel, None),
    };
    let pair = |t: &str, what: &str| -> Result<(u32, u32), String> {
        let (a, b) = t.split_once('x').ok_or_else(|| format!("{what} {t:?} is not HxW"))?;
        let p = |v: &str| v.parse::<u32>().map_err(|_| format!("{what} {t:?} is not HxW"));
        Ok((p(a)?, p(b)?))
    };
    let (filter_h, filter_w) = pair(size, "filter size")?;
    let (stride_h, stride_w) = match stride {
        Some(st) => pair(st, "stride")?,
        None => (1, 1),
    };
    let filters = filters.parse::<u32>().map_err(|_| format!("number of filters {filters:?} is not an integer"))?;
    Ok(CnnLayer { filter_h, filter_w, stride_h, stride_w, filters, pool, inputs })
}

impl FromStr for CnnArch {
    type Err = SpaceError;
    fn from_str(s: &str) -> Result<Self, SpaceError> {
        let layers = s
            .trim()
            .split(';')
            .enumerate()
            .map(|(i, l)| {
                parse_layer(l.trim()).map_err(|reason| SpaceError::Parse {
                    input: s.to_string(),
                    reason: format!("layer {i}: {reason}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let arch = CnnArch { layers };
        arch.validate()?;
        Ok(arch)
    }
}

fn default_heights() -> Vec<u32> {
    vec![1, 3, 5, 7]
}
fn default_filters() -> Vec<u32> {
    vec![24, 36, 48, 64]
}
fn default_true() -> bool {
    true
}

/// The CNN space's vocabularies. Defaults are the paper's: filter height and width in
/// {1,3,5,7}, filters in {24,36,48,64}, no stride tokens, no pooling tokens, skip connections on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnSpace {
    #[serde(default = "default_heights")]
    pub filter_heights: Vec<u32>,
    #[serde(default = "default_heights")]
    pub filter_widths: Vec<u32>,
    #[serde(default = "default_filters")]
    pub filters: Vec<u32>,
    /// Stride choices for height and width; empty (the default) means every stride is 1 and no
    /// stride tokens are sampled. The paper's strided variant uses `[1, 2, 3]`.
    #[serde(default)]
    pub strides: Vec<u32>,
    /// Sample a pooling token per layer (none / 2×2 max).
    #[serde(default)]
    pub pooling: bool,
    /// Layers (0-based) followed by a fixed 2×2 max-pool that the strategy does not choose —
    /// ENAS's macro space, where the reductions sit at fixed depths and the search picks the rest.
    /// Exclusive with `pooling`; indices past the current depth are ignored. Default: none.
    #[serde(default)]
    pub pool_after: Vec<usize>,
    /// Sample anchor points (skip connections). Off: every layer reads the previous one.
    #[serde(default = "default_true")]
    pub skips: bool,
}

impl Default for CnnSpace {
    fn default() -> Self {
        CnnSpace {
            filter_heights: default_heights(),
            filter_widths: default_heights(),
            filters: default_filters(),
            strides: Vec::new(),
            pooling: false,
            pool_after: Vec::new(),
            skips: true,
        }
    }
}

/// Token-type slots of one layer, in the order they are sampled (the paper's Figure 2 order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    FilterH,
    FilterW,
    StrideH,
    StrideW,
    Filters,
    Pool,
}

impl Slot {
    fn name(self) -> &'static str {
        match self {
            Slot::FilterH => "filter_height",
            Slot::FilterW => "filter_width",
            Slot::StrideH => "stride_height",
            Slot::StrideW => "stride_width",
            Slot::Filters => "filters",
            Slot::Pool => "pool",
        }
    }
}

impl CnnSpace {
    fn slots(&self) -> Vec<Slot> {
        let mut s = vec![Slot::FilterH, Slot::FilterW];
        if !self.strides.is_empty() {
            s.extend([Slot::StrideH, Slot::StrideW]);
        }
        s.push(Slot::Filters);
        if self.pooling {
            s.push(Slot::Pool);
        }
        s
    }

    fn vocab(&self, slot: Slot) -> Vec<u32> {
        match slot {
            Slot::FilterH => self.filter_heights.clone(),
            Slot::FilterW => self.filter_widths.clone(),
            Slot::StrideH | Slot::StrideW => self.strides.clone(),
            Slot::Filters => self.filters.clone(),
            Slot::Pool => vec![0, 1],
        }
    }

    /// The pooling `cnn.pool_after` fixes for layer `i` (none when the strategy chooses it).
    fn fixed_pool(&self, i: usize) -> Pool {
        if self.pool_after.contains(&i) { Pool::Max } else { Pool::None }
    }

    /// Check the vocabularies are usable.
    pub fn validate(&self) -> Result<(), SpaceError> {
        for (name, v) in [
            ("filter_heights", &self.filter_heights),
            ("filter_widths", &self.filter_widths),
            ("filters", &self.filters),
        ] {
            let cap = if name == "filters" { MAX_FILTERS } else { MAX_KERNEL };
            if v.is_empty() || v.contains(&0) || v.iter().any(|&x| x > cap) {
                return Err(SpaceError::Config(format!(
                    "cnn.{name} must be a non-empty list of integers from 1 to {cap}, got {v:?}"
                )));
            }
        }
        if self.pooling && !self.pool_after.is_empty() {
            return Err(SpaceError::Config(
                "cnn.pool_after fixes where pooling goes and cnn.pooling lets the strategy choose it: set one".into(),
            ));
        }
        if let Some(&i) = self.pool_after.iter().find(|&&i| i >= MAX_LAYERS) {
            return Err(SpaceError::Config(format!("cnn.pool_after: layer {i} is past the {MAX_LAYERS}-layer limit")));
        }
        if self.strides.iter().any(|&s| s == 0 || s > MAX_STRIDE) {
            return Err(SpaceError::Config(format!(
                "cnn.strides must hold integers from 1 to {MAX_STRIDE}, got {:?}",
                self.strides
            )));
        }
        Ok(())
    }

    /// One token type per slot.
    pub fn token_types(&self) -> Vec<TokenType> {
        self.slots()
            .into_iter()
            .map(|s| TokenType { name: s.name().to_string(), choices: self.vocab(s).len() })
            .collect()
    }

    /// The decision program for `depth` layers: per layer its tokens, then (with skips) its anchor.
    pub fn decisions(&self, depth: usize) -> Vec<Decision> {
        let n = self.slots().len();
        let mut d = Vec::with_capacity(depth * (n + 1));
        for layer in 0..depth {
            d.extend((0..n).map(|token_type| Decision::Token { token_type }));
            if self.skips {
                d.push(Decision::Anchor { layer });
            }
        }
        d
    }

    /// Actions (one per decision of [`Self::decisions`]) → architecture.
    pub fn decode(&self, actions: &[Action]) -> Result<CnnArch, SpaceError> {
        let slots = self.slots();
        let per_layer = slots.len() + self.skips as usize;
        if actions.is_empty() || !actions.len().is_multiple_of(per_layer) {
            return Err(SpaceError::Actions(format!(
                "{} actions is not a whole number of layers of {per_layer} decisions",
                actions.len()
            )));
        }
        let mut layers = Vec::new();
        for (i, chunk) in actions.chunks(per_layer).enumerate() {
            let mut layer = CnnLayer {
                filter_h: 0,
                filter_w: 0,
                stride_h: 1,
                stride_w: 1,
                filters: 0,
                pool: self.fixed_pool(i),
                inputs: if i > 0 && !self.skips { vec![i - 1] } else { vec![] },
            };
            for (slot, action) in slots.iter().zip(chunk) {
                let Action::Token(k) = action else {
                    return Err(SpaceError::Actions(format!("layer {i}: expected a token for {}", slot.name())));
                };
                let vocab = self.vocab(*slot);
                let v = *vocab.get(*k).ok_or_else(|| {
                    SpaceError::Actions(format!("layer {i}: choice {k} out of range for {}", slot.name()))
                })?;
                match slot {
                    Slot::FilterH => layer.filter_h = v,
                    Slot::FilterW => layer.filter_w = v,
                    Slot::StrideH => layer.stride_h = v,
                    Slot::StrideW => layer.stride_w = v,
                    Slot::Filters => layer.filters = v,
                    Slot::Pool => layer.pool = if v == 1 { Pool::Max } else { Pool::None },
                }
            }
            if self.skips {
                let Some(Action::Skips(flags)) = chunk.last() else {
                    return Err(SpaceError::Actions(format!("layer {i}: expected anchor skips")));
                };
                if flags.len() != i {
                    return Err(SpaceError::Actions(format!(
                        "layer {i}: anchor has {} flags, expected {i}",
                        flags.len()
                    )));
                }
                layer.inputs = (0..i).filter(|&j| flags[j]).collect();
            }
            layers.push(layer);
        }
        Ok(CnnArch { layers })
    }

    /// Architecture → actions; fails when a value is not in this space's vocabularies.
    pub fn encode(&self, arch: &CnnArch) -> Result<Vec<Action>, SpaceError> {
        arch.validate()?;
        let mut out = Vec::new();
        for (i, l) in arch.layers.iter().enumerate() {
            for slot in self.slots() {
                let v = match slot {
                    Slot::FilterH => l.filter_h,
                    Slot::FilterW => l.filter_w,
                    Slot::StrideH => l.stride_h,
                    Slot::StrideW => l.stride_w,
                    Slot::Filters => l.filters,
                    Slot::Pool => (l.pool == Pool::Max) as u32,
                };
                let k = self.vocab(slot).iter().position(|&x| x == v).ok_or_else(|| SpaceError::NotInSpace {
                    space: "cnn",
                    reason: format!("layer {i}: {} = {v} is not one of {:?}", slot.name(), self.vocab(slot)),
                })?;
                out.push(Action::Token(k));
            }
            if self.strides.is_empty() && (l.stride_h != 1 || l.stride_w != 1) {
                return Err(SpaceError::NotInSpace {
                    space: "cnn",
                    reason: format!("layer {i} is strided but the space has no stride tokens"),
                });
            }
            if !self.pooling && l.pool != self.fixed_pool(i) {
                let reason = if self.pool_after.is_empty() {
                    format!("layer {i} pools but the space has no pooling tokens")
                } else {
                    format!("layer {i}: pooling is fixed after layers {:?} (cnn.pool_after)", self.pool_after)
                };
                return Err(SpaceError::NotInSpace { space: "cnn", reason });
            }
            if self.skips {
                out.push(Action::Skips((0..i).map(|j| l.inputs.contains(&j)).collect()));
            } else {
                let expected: Vec<usize> = if i > 0 { vec![i - 1] } else { vec![] };
                if l.inputs != expected {
                    return Err(SpaceError::NotInSpace {
                        space: "cnn",
                        reason: format!("layer {i} has skip inputs but the space has skips off"),
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widened_multiplies_filters_only() {
        let a: CnnArch = "3x3s2x2-32-mp;5x1-12<0".parse().unwrap();
        assert_eq!(a.widened(2.0).to_string(), "3x3s2x2-64-mp;5x1-24<0");
        assert_eq!(a.widened(1.5).to_string(), "3x3s2x2-48-mp;5x1-18<0");
        assert_eq!(a.widened(0.01).to_string(), "3x3s2x2-1-mp;5x1-1<0", "at least one filter");
        assert_eq!(a.widened(1.0), a);
    }

    #[test]
    fn widened_to_rounds_filter_counts_up_to_the_multiple() {
        let a: CnnArch = "3x3s2x2-54-mp;5x1-36<0;1x1-72<1".parse().unwrap();
        assert_eq!(a.widened_to(1.0, 8).to_string(), "3x3s2x2-56-mp;5x1-40<0;1x1-72<1");
        // 57.4 → 57 → 64, 38.25 → 38 → 40, 76.5 → 77 → 80.
        assert_eq!(a.widened_to(1.0625, 8).to_string(), "3x3s2x2-64-mp;5x1-40<0;1x1-80<1");
        assert_eq!(a.widened_to(0.01, 8).to_string(), "3x3s2x2-8-mp;5x1-8<0;1x1-8<1");
        assert_eq!(a.widened_to(1.5, 1), a.widened(1.5));
        assert_eq!(a.widened_to(1.5, 0), a.widened(1.5), "0 is no rounding, not a division by zero");
    }

    fn sample() -> CnnArch {
        "3x3-36;5x7s2x1-48-mp<0;1x1-24<0,1".parse().unwrap()
    }

    #[test]
    fn string_round_trip() {
        let a = sample();
        assert_eq!(a.layers[1].stride_h, 2);
        assert_eq!(a.layers[1].pool, Pool::Max);
        assert_eq!(a.layers[2].inputs, vec![0, 1]);
        assert_eq!(a.to_string(), "3x3-36;5x7s2x1-48-mp<0;1x1-24<0,1");
        assert_eq!(a.to_string().parse::<CnnArch>().unwrap(), a);
    }

    #[test]
    fn repair_rule_topology() {
        let a: CnnArch = "3x3-8;5x5-4;1x1-6<0;3x3-2<2".parse().unwrap();
        assert_eq!(a.image_readers(), vec![0, 1]);
        assert_eq!(a.sinks(), vec![1, 3]);
        assert_eq!(sample().sinks(), vec![2]);
    }

    #[test]
    fn json_round_trip_omits_defaults() {
        let a = sample();
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.starts_with(r#"{"layers":[{"filter_h":3,"filter_w":3,"filters":36,"inputs":[]}"#), "{json}");
        assert_eq!(serde_json::from_str::<CnnArch>(&json).unwrap(), a);
    }

    #[test]
    fn bad_strings_name_the_problem() {
        for (s, needle) in [
            ("3x3", "missing number of filters"),
            ("3y3-36", "not HxW"),
            ("3x3-abc", "not an integer"),
            ("3x3-36;3x3-36<1", "earlier layers"),
            ("3x3-36-xx", "unknown suffix"),
            ("", "missing number of filters"),
        ] {
            let e = s.parse::<CnnArch>().unwrap_err().to_string();
            assert!(e.contains(needle), "{s:?}: {e}");
        }
    }

    #[test]
    fn encode_decode_round_trip_all_variants() {
        let space = CnnSpace { strides: vec![1, 2, 3], pooling: true, ..CnnSpace::default() };
        let a = sample();
        let actions = space.encode(&a).unwrap();
        assert_eq!(actions.len(), space.decisions(3).len());
        assert_eq!(space.decode(&actions).unwrap(), a);
        // The default space has no stride tokens: the strided layer is rejected by name.
        let e = CnnSpace::default().encode(&a).unwrap_err().to_string();
        assert!(e.contains("layer 1"), "{e}");
    }

    #[test]
    fn fixed_pooling_is_decoded_not_sampled() {
        let space = CnnSpace { pool_after: vec![0, 2], ..CnnSpace::default() };
        space.validate().unwrap();
        assert_eq!(space.token_types().len(), 3, "no pooling token");
        let a: CnnArch = "3x3-24-mp;3x3-36<0;5x5-48-mp<1;1x1-24<2".parse().unwrap();
        let actions = space.encode(&a).unwrap();
        assert_eq!(actions.len(), space.decisions(4).len());
        assert_eq!(space.decode(&actions).unwrap(), a);
        // A pool elsewhere, or a missing fixed one, is outside the space and named.
        for bad in ["3x3-24;3x3-36<0;5x5-48-mp<1", "3x3-24-mp;3x3-36-mp<0;5x5-48-mp<1"] {
            let e = space.encode(&bad.parse().unwrap()).unwrap_err().to_string();
            assert!(e.contains("pool_after"), "{bad}: {e}");
        }
        let both = CnnSpace { pooling: true, ..space };
        assert!(both.validate().unwrap_err().to_string().contains("cnn.pool_after"));
    }

    #[test]
    fn no_skip_space_chains_layers() {
        let space = CnnSpace { skips: false, ..CnnSpace::default() };
        let actions: Vec<Action> = (0..9).map(|i| Action::Token(if i % 3 == 2 { 0 } else { 1 })).collect();
        let a = space.decode(&actions).unwrap();
        assert_eq!(a.to_string(), "3x3-24;3x3-24<0;3x3-24<1");
        assert_eq!(space.encode(&a).unwrap(), actions);
    }

    #[test]
    fn program_layout_follows_the_paper() {
        let space = CnnSpace::default();
        let names: Vec<String> = space.token_types().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["filter_height", "filter_width", "filters"]);
        let d = space.decisions(2);
        assert_eq!(d.len(), 8);
        assert_eq!(d[3], Decision::Anchor { layer: 0 });
        assert_eq!(d[7], Decision::Anchor { layer: 1 });
    }
}
