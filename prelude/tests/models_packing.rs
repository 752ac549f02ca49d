//! Packed batches: with enough padding, BERT runs its position-wise layers on the real tokens
//! only. Each sequence must get the same logits, loss and gradients as when it runs alone,
//! unpadded (where nothing is packed).

mod models_support;

use models_support::{fixture, max_abs};
use tch::{Kind, Tensor};
use tuna::data::Batch;
use tuna::models::*;
use tuna::train::{LossOptions, Objective};
use tuna::Result;

const TOL: f64 = 1e-5;
/// Real lengths of a batch padded to 16: 62 % of it is padding, so it is packed.
const LENGTHS: [i64; 4] = [12, 3, 7, 2];
const SEQ: i64 = 16;

/// (input_ids, attention_mask) padded on the right, and each row alone without padding.
fn batch() -> (Tensor, Tensor, Vec<(Tensor, Tensor)>) {
    let mut ids = vec![0i64; LENGTHS.len() * SEQ as usize];
    let mut mask = vec![0i64; ids.len()];
    for (row, &len) in LENGTHS.iter().enumerate() {
        for pos in 0..len as usize {
            let i = row * SEQ as usize + pos;
            ids[i] = 1 + (row as i64 * 7 + pos as i64 * 13) % 90;
            mask[i] = 1;
        }
    }
    let ids = Tensor::from_slice(&ids).view([-1, SEQ]);
    let mask = Tensor::from_slice(&mask).view([-1, SEQ]);
    let alone = LENGTHS.iter().enumerate().map(|(row, &len)| (ids.get(row as i64).narrow(0, 0, len).unsqueeze(0), mask.get(row as i64).narrow(0, 0, len).unsqueeze(0))).collect();
    (ids, mask, alone)
}

/// The gradients of every parameter after `loss` backward, then cleared.
fn grads(vs: &tch::nn::VarStore, loss: &Tensor) -> Vec<(String, Tensor)> {
    loss.backward();
    let mut out: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, v)| v.grad().defined()).map(|(n, v)| (n, v.grad().copy())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, v) in vs.variables() {
        let mut g = v.grad();
        if g.defined() {
            let _ = g.zero_();
        }
    }
    out
}

fn assert_same_grads(packed: &[(String, Tensor)], alone: &[(String, Tensor)]) {
    assert_eq!(packed.len(), alone.len());
    for ((name, a), (_, b)) in packed.iter().zip(alone) {
        let d = max_abs(a, b);
        assert!(d < TOL, "gradient of {name}: max-abs {d:.2e}");
    }
}

#[test]
fn classification_of_a_packed_batch_equals_each_sequence_alone() -> Result<()> {
    let (ids, mask, alone) = batch();
    let model = BertForSequenceClassification::from_pretrained(fixture("bert_seqcls"))?;
    let batched = model.forward(&ids, Some(&mask), None);
    let packed_grads = grads(model.var_store(), &batched.sum(Kind::Float));
    let rows: Vec<Tensor> = alone.iter().map(|(i, m)| model.forward(i, Some(m), None)).collect();
    let each = Tensor::cat(&rows, 0);
    let d = max_abs(&batched, &each);
    println!("packed vs alone: max-abs logits {d:.2e}");
    assert!(d < TOL);
    assert_same_grads(&packed_grads, &grads(model.var_store(), &each.sum(Kind::Float)));
    Ok(())
}

#[test]
fn masked_lm_loss_of_a_packed_batch_equals_each_sequence_alone() -> Result<()> {
    let (ids, mask, alone) = batch();
    // Every third real token is a target.
    let positions = Tensor::arange(SEQ, (Kind::Int64, tch::Device::Cpu)).unsqueeze(0).expand_as(&ids);
    let chosen = positions.remainder(3).eq(0).logical_and(&mask.ne(0));
    let labels = ids.where_self(&chosen, &Tensor::from(-100i64));
    let model = BertForMaskedLM::from_pretrained(fixture("bert_mlm"))?;
    let options = LossOptions::default();
    let whole = Batch::new().tensor("input_ids", ids.shallow_clone()).tensor("attention_mask", mask.shallow_clone()).tensor("labels", labels.shallow_clone());
    let packed = model.compute(&whole, &options)?;
    let packed_grads = grads(model.var_store(), &packed.loss);
    // The batch loss is the mean over all targets: each row's mean weighted by its target count.
    let mut total = Tensor::zeros([], (Kind::Float, tch::Device::Cpu));
    for (row, ((i, m), &len)) in alone.iter().zip(&LENGTHS).enumerate() {
        let batch = Batch::new().tensor("input_ids", i.shallow_clone()).tensor("attention_mask", m.shallow_clone()).tensor("labels", labels.get(row as i64).narrow(0, 0, len).unsqueeze(0));
        let out = model.compute(&batch, &options)?;
        total = total + out.loss * out.count as f64;
    }
    let each = total / packed.count as f64;
    let d = max_abs(&packed.loss, &each);
    println!("packed vs alone: masked-LM loss {} vs {}, max-abs {d:.2e}", f64::try_from(&packed.loss)?, f64::try_from(&each)?);
    assert!(d < TOL);
    assert_same_grads(&packed_grads, &grads(model.var_store(), &each));
    Ok(())
}

#[test]
fn masked_lm_keeps_labels_that_sit_on_padding() -> Result<()> {
    let (ids, mask, _) = batch();
    // Every third position is a target, padding included: the batch is then not packed.
    let positions = Tensor::arange(SEQ, (Kind::Int64, tch::Device::Cpu)).unsqueeze(0).expand_as(&ids);
    let labels = ids.where_self(&positions.remainder(3).eq(0), &Tensor::from(-100i64));
    let model = BertForMaskedLM::from_pretrained(fixture("bert_mlm"))?;
    let whole = Batch::new().tensor("input_ids", ids.shallow_clone()).tensor("attention_mask", mask.shallow_clone()).tensor("labels", labels.shallow_clone());
    let out = model.compute(&whole, &LossOptions::default())?;
    assert_eq!(out.count, i64::try_from(labels.ne(-100).sum(Kind::Int64))?);
    let logits = model.forward(&ids, Some(&mask), None);
    let vocab = logits.size()[2];
    let reference = logits.view([-1, vocab]).cross_entropy_loss::<Tensor>(&labels.view([-1]), None, tch::Reduction::Mean, -100, 0.0);
    let d = max_abs(&out.loss, &reference);
    println!("labels on padding: masked-LM loss {} vs padded forward {}, max-abs {d:.2e}", f64::try_from(&out.loss)?, f64::try_from(&reference)?);
    assert!(d < TOL);
    Ok(())
}
