//! Image saliency: how much each pixel moves the target class's logit. Vanilla gradients
//! (Simonyan et al., 2013: |∂logit/∂pixel|, the largest over colour channels) and integrated
//! gradients on pixels from a constant baseline image (Sundararajan et al., 2017).

use super::integrated::integrated_gradients;
use crate::{Error, Result};
use tch::{Kind, Tensor};

/// One target class per image: the given ones, or each image's predicted class.
fn targets_for(logits: &Tensor, targets: Option<&[i64]>) -> Result<Vec<i64>> {
    let (n, classes) = logits.size2().map_err(|_| Error::Shape { context: "saliency".into(), message: format!("the model must return logits (N, classes); got {:?}", logits.size()) })?;
    match targets {
        Some(t) if t.len() as i64 == n && t.iter().all(|c| (0..classes).contains(c)) => Ok(t.to_vec()),
        Some(t) => Err(Error::Config { key: "targets".into(), message: format!("{} targets for {n} images, each in 0..{classes}", t.len()) }),
        None => Ok(Vec::try_from(logits.argmax(1, false).to_device(tch::Device::Cpu))?),
    }
}

/// Vanilla-gradient saliency of `images` (N, C, H, W) for `targets` (predicted classes when
/// `None`): |∂ logit_target / ∂ pixel|, maximum over channels → (N, H, W). `logits` maps
/// images to logits (N, classes), e.g. `|x| model.forward(x)` with the model evaluating.
pub fn vanilla_gradient(logits: impl Fn(&Tensor) -> Tensor, images: &Tensor, targets: Option<&[i64]>) -> Result<Tensor> {
    if images.dim() != 4 {
        return Err(Error::Shape { context: "vanilla_gradient".into(), message: format!("images must be (N, C, H, W); got {:?}", images.size()) });
    }
    let x = images.detach().set_requires_grad(true);
    let out = logits(&x);
    let t = targets_for(&out, targets)?;
    let index = Tensor::from_slice(&t).to_device(out.device()).view([-1, 1]);
    let picked = out.gather(1, &index, false).sum(Kind::Float);
    let grads = Tensor::f_run_backward(&[picked], &[&x], false, false)?;
    let g = grads.into_iter().next().ok_or_else(|| Error::Message("no gradient".into()))?;
    Ok(g.abs().amax([1], false))
}

/// Integrated gradients of each image's target logit with respect to its pixels, from a
/// baseline image filled with `baseline` (say the normalised value of black), `steps`
/// intervals → (N, C, H, W) attributions; each image's attributions sum to
/// logit(image) − logit(baseline) up to the quadrature error.
pub fn image_integrated_gradients(logits: impl Fn(&Tensor) -> Tensor, images: &Tensor, targets: Option<&[i64]>, baseline: f64, steps: usize) -> Result<Tensor> {
    if images.dim() != 4 {
        return Err(Error::Shape { context: "image_integrated_gradients".into(), message: format!("images must be (N, C, H, W); got {:?}", images.size()) });
    }
    let t = targets_for(&tch::no_grad(|| logits(images)), targets)?;
    let mut out = Vec::with_capacity(t.len());
    for (i, &target) in t.iter().enumerate() {
        let x = images.get(i as i64).detach();
        let b = x.full_like(baseline);
        let (attr, _, _) = integrated_gradients(|p| logits(p).select(1, target), &x, &b, steps, 16)?;
        out.push(attr);
    }
    Ok(Tensor::stack(&out, 0))
}
