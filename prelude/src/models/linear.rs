//! The one linear layer of every tuna model (`torch.nn.Linear`, and `transformers`'
//! `pytorch_utils.Conv1D` that GPT-2 uses), registered at its Hugging Face key path, with a slot
//! for adapters (LoRA and the like) that its `forward` consults.

use super::layers::path_name;
use crate::Result;
use tch::{nn, Tensor};

/// Something attached to a [`Linear`] that changes its output: LoRA, (IA)³, a bottleneck adapter.
///
/// `forward` receives the layer's input `x` (…, in_features) and the base layer's output
/// `base_out` = x·Wᵀ + b (…, out_features), and returns the adjusted output of the same shape
/// (LoRA returns `base_out + scale · B(A(dropout(x)))`). Adapters run in the order they were
/// attached; each sees the output of the previous one as `base_out`.
///
/// ```no_run
/// use tuna::models::LinearAdapter;
/// use tch::Tensor;
/// /// Scales a layer's output by a fixed factor.
/// struct Scale(f64);
/// impl LinearAdapter for Scale {
///     fn name(&self) -> &str { "scale" }
///     fn forward(&self, _x: &Tensor, base_out: Tensor) -> Tensor { base_out * self.0 }
/// }
/// ```
pub trait LinearAdapter: Send {
    /// A short name shown in model summaries ("lora").
    fn name(&self) -> &str;

    /// The adjusted output; see the trait's documentation.
    fn forward(&self, x: &Tensor, base_out: Tensor) -> Tensor;

    /// The adapter's own tensors (for parameter counts); none by default.
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
}

/// A linear layer y = x·Wᵀ + b whose variables sit at `<name>.weight` and `<name>.bias`.
///
/// `weight` keeps the checkpoint's layout: (out, in) for `nn.Linear`; (in, out) for GPT-2's
/// `Conv1D` (`transposed` is then true), so saved files stay loadable by `transformers`.
///
/// ```no_run
/// use tch::{nn::VarStore, Device, Kind, Tensor};
/// use tuna::models::Linear;
/// let vs = VarStore::new(Device::Cpu);
/// let layer = Linear::new(vs.root() / "classifier", 384, 3, true, 0.02)?;
/// let y = layer.forward(&Tensor::zeros([8, 384], (Kind::Float, Device::Cpu))); // (8, 3)
/// assert_eq!(layer.name(), "classifier");
/// # Ok::<(), tuna::Error>(())
/// ```
pub struct Linear {
    /// The weight: (out, in), or (in, out) when `transposed`.
    pub weight: Tensor,
    /// The bias: (out,), when the layer has one.
    pub bias: Option<Tensor>,
    transposed: bool,
    name: String,
    in_features: i64,
    out_features: i64,
    adapters: Vec<Box<dyn LinearAdapter>>,
}

impl std::fmt::Debug for Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linear")
            .field("name", &self.name)
            .field("in_features", &self.in_features)
            .field("out_features", &self.out_features)
            .field("transposed", &self.transposed)
            .field("adapters", &self.adapters.iter().map(|a| a.name().to_owned()).collect::<Vec<_>>())
            .finish()
    }
}

impl Linear {
    /// An `nn.Linear` at `p`: weight (out, in) initialised normal(0, `std`), bias zeros.
    pub fn new(p: nn::Path, in_features: i64, out_features: i64, bias: bool, std: f64) -> Result<Self> {
        Self::build(p, in_features, out_features, bias, std, false)
    }

    /// A GPT-2 `Conv1D` at `p`: weight stored (in, out) initialised normal(0, `std`), bias zeros.
    pub fn conv1d(p: nn::Path, in_features: i64, out_features: i64, std: f64) -> Result<Self> {
        Self::build(p, in_features, out_features, true, std, true)
    }

    fn build(p: nn::Path, in_features: i64, out_features: i64, bias: bool, std: f64, transposed: bool) -> Result<Self> {
        let dims = if transposed { [in_features, out_features] } else { [out_features, in_features] };
        let weight = p.f_var("weight", &dims, nn::Init::Randn { mean: 0.0, stdev: std })?;
        let bias = if bias { Some(p.f_zeros("bias", &[out_features])?) } else { None };
        Ok(Linear { weight, bias, transposed, name: path_name(&p), in_features, out_features, adapters: Vec::new() })
    }

    /// A linear layer over an existing weight (out, in), such as a decoder tied to embeddings.
    pub(crate) fn tied(name: String, weight: Tensor, bias: Option<Tensor>) -> Self {
        let (out_features, in_features) = weight.size2().unwrap_or((0, 0));
        Linear { weight, bias, transposed: false, name, in_features, out_features, adapters: Vec::new() }
    }

    /// The full dotted name, equal to the checkpoint key without `.weight`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Input width.
    pub fn in_features(&self) -> i64 {
        self.in_features
    }

    /// Output width.
    pub fn out_features(&self) -> i64 {
        self.out_features
    }

    /// Whether the weight is stored (in, out), as GPT-2's `Conv1D` stores it.
    pub fn is_transposed(&self) -> bool {
        self.transposed
    }

    /// Attaches an adapter; it runs after those attached before it.
    pub fn attach(&mut self, adapter: Box<dyn LinearAdapter>) {
        self.adapters.push(adapter);
    }

    /// The attached adapters, in order.
    pub fn adapters(&self) -> &[Box<dyn LinearAdapter>] {
        &self.adapters
    }

    /// Removes and returns every adapter.
    pub fn detach_all(&mut self) -> Vec<Box<dyn LinearAdapter>> {
        std::mem::take(&mut self.adapters)
    }

    /// The base layer alone, without adapters: (…, in) → (…, out).
    pub fn forward_base(&self, x: &Tensor) -> Tensor {
        if self.transposed {
            // Conv1D: x·W + b with W (in, out), without materialising Wᵀ.
            let y = x.matmul(&self.weight);
            match &self.bias {
                Some(b) => y + b,
                None => y,
            }
        } else {
            x.linear(&self.weight, self.bias.as_ref())
        }
    }

    /// The layer with its adapters: (…, in) → (…, out).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let base = self.forward_base(x);
        self.adapters.iter().fold(base, |out, adapter| adapter.forward(x, out))
    }

    /// Weight and bias elements (adapters not included).
    pub fn num_parameters(&self) -> i64 {
        self.weight.numel() as i64 + self.bias.as_ref().map_or(0, |b| b.numel() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    struct AddOne;
    impl LinearAdapter for AddOne {
        fn name(&self) -> &str {
            "add-one"
        }
        fn forward(&self, _x: &Tensor, base_out: Tensor) -> Tensor {
            base_out + 1.0
        }
    }

    #[test]
    fn conv1d_layout_computes_the_same_as_linear() {
        let vs = nn::VarStore::new(Device::Cpu);
        let lin = Linear::new(vs.root() / "a", 4, 3, true, 0.5).unwrap();
        let mut conv = Linear::conv1d(vs.root() / "b" / 0, 4, 3, 0.5).unwrap();
        tch::no_grad(|| conv.weight.copy_(&lin.weight.tr()));
        assert_eq!(conv.weight.size(), [4, 3]);
        assert_eq!(conv.name(), "b.0");
        let x = Tensor::randn([2, 5, 4], (Kind::Float, Device::Cpu));
        let diff = (lin.forward(&x) - conv.forward(&x)).abs().max();
        assert!(f64::try_from(diff).unwrap() < 1e-6);
    }

    #[test]
    fn adapters_change_the_output_in_order() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut lin = Linear::new(vs.root() / "q", 2, 2, false, 0.5).unwrap();
        let x = Tensor::ones([1, 2], (Kind::Float, Device::Cpu));
        let before = lin.forward(&x);
        lin.attach(Box::new(AddOne));
        lin.attach(Box::new(AddOne));
        let diff = f64::try_from((lin.forward(&x) - before).mean(Kind::Float)).unwrap();
        assert_eq!(diff, 2.0);
        assert_eq!(lin.detach_all().len(), 2);
    }
}
