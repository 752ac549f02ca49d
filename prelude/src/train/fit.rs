//! The training loop of [`Trainer`]: micro-batches with gradient accumulation, clipping, the
//! schedule, evaluation, early stopping, the live display and the stop button.
//!
//! Reproducibility: every micro-batch reseeds libtorch's generator from (seed, micro-batch
//! number) before its forward pass, and the loader's batches depend only on (seed, epoch,
//! index); so a run is the same whether or not it was stopped and continued, and the same
//! seed gives the same history on the CPU.
//!
//! Memory: glibc keeps freed blocks in its heap once its mmap threshold has grown (to 32 MiB
//! after the first large free), so a training process holds on to the fragments of every step's
//! activations; `fit` fixes the threshold at 256 KiB so that each step's activations go back to
//! the system when freed (MiniLM-L6 fine-tuning, batch 32 × 64: peak RSS 1,244 → 937 MB).

use super::history::{EvalRecord, Run, StepRecord, Stop};
use super::metrics::{ClassMetrics, Evaluation};
use super::metrics_scores::Scored;
use super::objective::{LossOptions, Objective};
use super::optim::OptimizerState;
use super::precision::Autocast;
use super::trainer::{TrainState, Trainer};
use crate::data::{mix_seed, Collate, Dataset, Loader, Sample};
use crate::display::DisplayHandle;
use crate::interrupt;
use crate::progress::{in_notebook, ProgressBar};
use crate::{Error, Result};
use std::time::{Duration, Instant};
use tch::{Kind, Tensor};

/// How often the live loss curve is redrawn at most.
const PLOT_EVERY: Duration = Duration::from_millis(500);

/// The live loss curve under the cell (notebook only).
struct LivePlot {
    handle: Option<DisplayHandle>,
    last: Option<Instant>,
    enabled: bool,
}

impl LivePlot {
    fn draw(&mut self, state: &TrainState, force: bool) {
        if !self.enabled || state.history.steps.is_empty() {
            return;
        }
        let now = Instant::now();
        if !force && self.last.is_some_and(|t| now - t < PLOT_EVERY) {
            return;
        }
        self.last = Some(now);
        let chart = state.history.plot_loss();
        match &self.handle {
            Some(h) => h.update(&chart),
            None => self.handle = Some(DisplayHandle::new(&chart)),
        }
    }
}

impl<M: Objective, C> Trainer<M, C> {
    fn loss_options(&self) -> Result<LossOptions> {
        let class_weights = match &self.config.class_weights {
            Some(w) => Some(Tensor::f_from_slice(w)?.f_to_kind(Kind::Float)?.f_to_device(self.model.device())?),
            None => None,
        };
        Ok(LossOptions { class_weights })
    }

    fn loader<T: Sample>(&self, data: &Dataset<T>, shuffle: bool) -> Loader<T, C>
    where
        C: Collate<T> + Clone + 'static,
    {
        Loader::new(data.clone(), self.config.batch_size, self.collate.clone())
            .seed(self.config.seed)
            .shuffle(shuffle)
            .device(self.model.device())
    }

    /// Trains on `train` for the configured epochs (or `max_steps`), evaluating on `valid`
    /// each epoch (or every `eval_every` steps). Returns when done, when early stopping ends
    /// it, or at the next step after the user presses stop — then the model, optimizer and
    /// history stay here and calling `fit` again continues the same run.
    pub fn fit<T: Sample>(&mut self, train: &Dataset<T>, valid: Option<&Dataset<T>>) -> Result<Run>
    where
        C: Collate<T> + Clone + 'static,
    {
        let c = self.config.clone();
        return_freed_memory();
        if c.batch_size == 0 || c.grad_accumulation == 0 {
            return Err(Error::config("batch_size", "batch_size and grad_accumulation must be at least 1"));
        }
        let loader = self.loader(train, true);
        let per_epoch = loader.len();
        if per_epoch == 0 {
            return Err(Error::msg(format!("the training set `{}` is empty: nothing to train on", train.name())));
        }
        let steps_per_epoch = per_epoch.div_ceil(c.grad_accumulation);
        if self.state.is_none() {
            let total = c.max_steps.unwrap_or(c.epochs * steps_per_epoch);
            self.state = Some(TrainState {
                optimizer: OptimizerState::new(c.optimizer, self.model.var_store()),
                step: 0,
                total,
                warmup: c.warmup.steps(total),
                epoch: 0,
                batch: 0,
                eval_due: false,
                history: Default::default(),
                last_eval: None,
                best: None,
                best_weights: None,
                evals_without_improvement: 0,
                early_stopped: false,
                data_wait: Duration::ZERO,
            });
        }
        let options = self.loss_options()?;
        let labels: Vec<String> = train.label_names().to_vec();
        let mut state = self.state.take().ok_or_else(|| Error::msg("trainer state missing"))?;
        let result = self.train_loop(&mut state, &loader, per_epoch, valid, &options, &labels);
        self.model.set_training(false);
        if result.is_ok() && c.keep_best && !matches!(result, Ok(Stop::Interrupted)) {
            if let Some(best) = &state.best_weights {
                restore(&self.model, best)?;
            }
        }
        let run = Run {
            history: state.history.clone(),
            step: state.step,
            total_steps: state.total,
            stop: *result.as_ref().unwrap_or(&Stop::Interrupted),
            last_eval: state.last_eval.clone(),
            best: state.best,
        };
        self.state = Some(state);
        result.map(|_| run)
    }

    fn train_loop<T: Sample>(
        &mut self,
        st: &mut TrainState,
        loader: &Loader<T, C>,
        per_epoch: usize,
        valid: Option<&Dataset<T>>,
        options: &LossOptions,
        labels: &[String],
    ) -> Result<Stop>
    where
        C: Collate<T> + Clone + 'static,
    {
        let c = self.config.clone();
        let mut bar = ProgressBar::new(Some(st.total)).label(M::TASK);
        let mut live = LivePlot { handle: None, last: None, enabled: c.live_plot && in_notebook() };
        let mut stop = Stop::Finished;
        'epochs: while st.step < st.total && !st.early_stopped {
            if let Some(s) = self.owed_eval(st, valid, options, labels)? {
                stop = s;
                break;
            }
            let mut batches = loader.epoch(st.epoch);
            // Batches of this epoch done before an interruption: their content depends only on
            // (seed, epoch, index), so skipping them resumes the same sequence.
            for _ in 0..st.batch {
                batches.next();
            }
            while st.batch < per_epoch && st.step < st.total {
                if interrupt::requested() {
                    stop = Stop::Interrupted;
                    break 'epochs;
                }
                let group = c.grad_accumulation.min(per_epoch - st.batch);
                st.optimizer.zero_grad();
                self.model.set_training(true);
                let mut loss_sum = 0.0;
                for i in 0..group {
                    let waited = batches.waited();
                    let next = batches.next();
                    st.data_wait += batches.waited().saturating_sub(waited);
                    let batch = match next {
                        Some(b) => b?,
                        None if interrupt::requested() => {
                            st.optimizer.zero_grad();
                            stop = Stop::Interrupted;
                            break 'epochs;
                        }
                        None => return Err(Error::msg("the loader ended before the epoch's last batch")),
                    };
                    let micro = (st.step * c.grad_accumulation + i) as u64;
                    tch::manual_seed(mix_seed(c.seed, micro) as i64 & i64::MAX);
                    let out = {
                        let _bf16 = c.bf16.then(|| Autocast::bf16(self.model.device())).flatten();
                        self.model.compute(&batch, options)?
                    };
                    let value = out.loss.f_double_value(&[])?;
                    if !value.is_finite() {
                        st.optimizer.zero_grad();
                        bar.finish();
                        return Err(Error::NonFiniteLoss { step: st.step + 1, value });
                    }
                    (out.loss / group as f64).f_backward()?;
                    loss_sum += value;
                }
                let grad_norm = st.optimizer.clip_grad_norm(c.max_grad_norm);
                let lr = c.lr * c.schedule.factor(st.step, st.warmup, st.total);
                st.optimizer.step(lr, c.weight_decay);
                st.step += 1;
                st.batch += group;
                let record = StepRecord {
                    step: st.step,
                    epoch: st.epoch as f64 + st.batch as f64 / per_epoch as f64,
                    loss: loss_sum / group as f64,
                    grad_norm,
                    learning_rate: lr,
                };
                bar.set_message(format!("loss {:.4}", record.loss));
                bar.inc(1);
                if let Some(f) = &mut self.on_step {
                    f(&record);
                }
                st.history.steps.push(record);
                live.draw(st, false);
                let end_of_epoch = st.batch >= per_epoch;
                if end_of_epoch {
                    st.epoch += 1;
                    st.batch = 0;
                }
                // Per-epoch evaluation also runs when `max_steps` ends the run inside an epoch
                // (as Hugging Face's epoch-end evaluation after the last step).
                st.eval_due = match c.eval_every {
                    Some(n) => n > 0 && st.step.is_multiple_of(n),
                    None => end_of_epoch || st.step >= st.total,
                };
                let owed = self.owed_eval(st, valid, options, labels)?;
                if c.save_every.is_some_and(|n| n > 0 && st.step.is_multiple_of(n)) && owed != Some(Stop::Interrupted) {
                    self.write_checkpoint(st, &c.output_dir)?;
                }
                if let Some(s) = owed {
                    stop = s;
                    break 'epochs;
                }
                if end_of_epoch {
                    continue 'epochs;
                }
            }
        }
        if stop == Stop::Finished && st.early_stopped {
            stop = Stop::EarlyStopped;
        }
        if stop == Stop::Interrupted {
            bar.should_stop();
        }
        bar.finish();
        live.draw(st, true);
        Ok(stop)
    }

    /// Runs the evaluation the schedule owes, if any: Some(stop) when the run must end
    /// (interrupted during it, or early stopping).
    fn owed_eval<T: Sample>(&mut self, st: &mut TrainState, valid: Option<&Dataset<T>>, options: &LossOptions, labels: &[String]) -> Result<Option<Stop>>
    where
        C: Collate<T> + Clone + 'static,
    {
        let Some(valid) = valid.filter(|_| st.eval_due) else {
            st.eval_due = false;
            return Ok(None);
        };
        if !self.scheduled_eval(st, valid, options, labels)? {
            return Ok(Some(Stop::Interrupted));
        }
        st.eval_due = false;
        Ok(st.early_stopped.then_some(Stop::EarlyStopped))
    }

    /// Evaluates on `valid` for the schedule: records it, tracks the best, decides early
    /// stopping. Returns false when the user interrupted it (the evaluation stays owed).
    fn scheduled_eval<T: Sample>(&mut self, st: &mut TrainState, valid: &Dataset<T>, options: &LossOptions, labels: &[String]) -> Result<bool>
    where
        C: Collate<T> + Clone + 'static,
    {
        let Some(mut eval) = self.evaluate_with(valid, options, labels)? else {
            return Ok(false);
        };
        eval.step = st.step;
        let epoch = st.history.steps.last().map_or(0.0, |r| r.epoch);
        let metrics = eval.values();
        st.history.evals.push(EvalRecord { step: st.step, epoch, metrics: metrics.clone() });
        let watched = &self.config.best_metric;
        let value = metrics.get(&watched.name).copied().ok_or_else(|| {
            Error::config(
                "best_metric",
                format!("no evaluation value `{}`; there are: {}", watched.name, metrics.keys().cloned().collect::<Vec<_>>().join(", ")),
            )
        })?;
        let threshold = self.config.early_stopping.map_or(0.0, |e| e.threshold);
        if watched.improves(value, st.best.map(|b| b.1), threshold) {
            st.best = Some((st.step, value));
            st.evals_without_improvement = 0;
            if self.config.keep_best {
                st.best_weights = Some(snapshot(&self.model));
            }
        } else {
            st.evals_without_improvement += 1;
            if self.config.early_stopping.is_some_and(|e| st.evals_without_improvement >= e.patience) {
                st.early_stopped = true;
            }
        }
        st.last_eval = Some(eval);
        Ok(true)
    }

    /// Loss and metrics of the model on `data` (dropout off, no gradients). The step recorded
    /// in it is the trainer's.
    pub fn evaluate<T: Sample>(&mut self, data: &Dataset<T>) -> Result<Evaluation>
    where
        C: Collate<T> + Clone + 'static,
    {
        let options = self.loss_options()?;
        let labels = data.label_names().to_vec();
        let mut eval = self.evaluate_with(data, &options, &labels)?.ok_or(Error::Interrupted)?;
        eval.step = self.step();
        Ok(eval)
    }

    /// None when the user interrupted it.
    fn evaluate_with<T: Sample>(&mut self, data: &Dataset<T>, options: &LossOptions, labels: &[String]) -> Result<Option<Evaluation>>
    where
        C: Collate<T> + Clone + 'static,
    {
        let training = self.model.is_training();
        self.model.set_training(false);
        let loader = self.loader(data, false);
        let expected = loader.len();
        let _guard = tch::no_grad_guard();
        let (mut loss_sum, mut count, mut right, mut seen) = (0.0, 0u64, 0u64, 0usize);
        let (mut predictions, mut targets) = (Vec::<i64>::new(), Vec::<i64>::new());
        let _bf16 = self.config.bf16.then(|| Autocast::bf16(self.model.device())).flatten();
        let mut scored = Scored::default();
        for batch in loader.epoch(0) {
            let out = self.model.compute(&batch?, options)?;
            seen += 1;
            if out.count == 0 {
                continue;
            }
            loss_sum += out.loss.f_double_value(&[])? * out.count as f64;
            count += out.count as u64;
            if let (Some(p), Some(t)) = (&out.predictions, &out.targets) {
                right += p.f_eq_tensor(t)?.f_sum(Kind::Int64)?.f_int64_value(&[])? as u64;
                if M::CLASSIFIES {
                    predictions.extend(Vec::<i64>::try_from(p.f_to_kind(Kind::Int64)?.f_to_device(tch::Device::Cpu)?)?);
                    targets.extend(Vec::<i64>::try_from(t.f_to_kind(Kind::Int64)?.f_to_device(tch::Device::Cpu)?)?);
                    if let Some(s) = &out.scores {
                        scored.push(s, t)?;
                    }
                }
            }
        }
        self.model.set_training(training);
        if seen < expected {
            return Ok(None);
        }
        let classes = M::CLASSIFIES.then(|| ClassMetrics::new(&predictions, &targets, labels));
        Ok(Some(Evaluation {
            step: 0,
            loss: if count > 0 { loss_sum / count as f64 } else { f64::NAN },
            count,
            accuracy: (count > 0).then(|| right as f64 / count as f64),
            classes,
            language_model: M::PERPLEXITY,
            score_metrics: scored.values(),
            scored: (!scored.targets.is_empty()).then_some(scored),
        }))
    }
}

/// Large blocks (activations) come from and go back to the system directly (see the module notes).
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation policy for later calls.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Copies of every variable, by name.
fn snapshot<M: Objective>(model: &M) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = model.var_store().variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Puts `saved` back into the model's variables.
fn restore<M: Objective>(model: &M, saved: &[(String, Tensor)]) -> Result<()> {
    let vars = model.var_store().variables();
    tch::no_grad(|| {
        for (name, value) in saved {
            let mut var = vars
                .get(name)
                .ok_or_else(|| Error::msg(format!("keep-best: the model no longer has variable `{name}`")))?
                .shallow_clone();
            var.f_copy_(value)?;
        }
        Ok(())
    })
}
