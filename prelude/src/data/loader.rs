//! Batches for training, after PyTorch's `DataLoader`: rows reshuffled every epoch from the
//! seed, cut into batches (the last partial one kept unless `drop_last`), collated by
//! background threads that keep a few batches ready (`prefetch`) on the target device, and
//! handed out in order. A batch depends only on (seed, epoch, batch index), never on thread
//! timing, so a run repeats exactly. The iterator ends early when the user presses stop.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let tok = Tokenizer::from_file(data_dir().join("all-MiniLM-L6-v2"))?.max_length(128);
//! let train = tok.tokenize(&tweets()?)?;
//! let loader = Loader::new(train, 16, MaskedLm::new(&tok)?).seed(42).drop_last(true).device(Device::cuda_if_available());
//! for batch in loader.epoch(0) {
//!     let batch = batch?;
//!     // model.forward(&batch["input_ids"], …)
//! }
//! # Ok::<(), tuna::Error>(())
//! ```

use super::collate::{Batch, Collate};
use super::dataset::{Dataset, Sample};
use crate::error::Result;
use crate::interrupt;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tch::Device;

/// Mixes two numbers into a new seed (splitmix64), so that every (epoch, batch, image) draws
/// from its own stream.
pub fn mix_seed(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x6A09_E667_F3BC_C909);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A dataset, a collator and the batching policy.
pub struct Loader<T, C> {
    dataset: Arc<Dataset<T>>,
    collate: Arc<C>,
    batch_size: usize,
    shuffle: bool,
    seed: u64,
    drop_last: bool,
    workers: usize,
    prefetch: usize,
    device: Device,
}

impl<T: Sample, C: Collate<T> + 'static> Loader<T, C> {
    /// Batches of `batch_size` rows of `dataset` made by `collate`; shuffled with seed 0, the
    /// last partial batch kept, 2 background threads keeping 4 batches ready, on the CPU.
    pub fn new(dataset: Dataset<T>, batch_size: usize, collate: C) -> Self {
        Loader {
            dataset: Arc::new(dataset),
            collate: Arc::new(collate),
            batch_size: batch_size.max(1),
            shuffle: true,
            seed: 0,
            drop_last: false,
            workers: 2,
            prefetch: 4,
            device: Device::Cpu,
        }
    }

    /// Whether rows are reshuffled every epoch (default true; off for evaluation).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// The seed of the shuffles and of the collator's randomness.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Drops the last batch when it is smaller than `batch_size`.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Background threads building batches (0: build each batch when asked).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Batches each thread keeps ready ahead of the consumer.
    pub fn prefetch(mut self, prefetch: usize) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Where batches are put.
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset<T> {
        &self.dataset
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// Whether an epoch has no batches.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The row order of `epoch`.
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.dataset.len()).collect();
        if self.shuffle {
            idx.shuffle(&mut StdRng::seed_from_u64(mix_seed(self.seed, epoch as u64)));
        }
        idx
    }

    /// The batches of `epoch`, in order.
    pub fn epoch(&self, epoch: usize) -> Batches {
        let job = Arc::new(Job {
            dataset: Arc::clone(&self.dataset),
            collate: Arc::clone(&self.collate),
            order: self.order(epoch),
            batch_size: self.batch_size,
            seed: mix_seed(self.seed, 0x5eed_0000 + epoch as u64),
            device: self.device,
        });
        let total = self.len();
        let stop = Arc::new(AtomicBool::new(false));
        let mut receivers = Vec::new();
        for w in 0..self.workers {
            let (tx, rx) = sync_channel(self.prefetch);
            let (job, stop) = (Arc::clone(&job), Arc::clone(&stop));
            let workers = self.workers;
            std::thread::spawn(move || {
                for b in (w..total).step_by(workers) {
                    if stop.load(Ordering::Relaxed) || interrupt::requested() {
                        break;
                    }
                    if tx.send(job.batch(b)).is_err() {
                        break; // the consumer is gone
                    }
                }
            });
            receivers.push(rx);
        }
        let inline: Option<Arc<dyn BatchSource>> = if self.workers == 0 { Some(job) } else { None };
        Batches { receivers, inline, next: 0, total, stop, waited: Duration::ZERO }
    }
}

struct Job<T, C> {
    dataset: Arc<Dataset<T>>,
    collate: Arc<C>,
    order: Vec<usize>,
    batch_size: usize,
    seed: u64,
    device: Device,
}

trait BatchSource: Send + Sync {
    fn batch(&self, b: usize) -> Result<Batch>;
}

impl<T: Sample, C: Collate<T>> BatchSource for Job<T, C> {
    fn batch(&self, b: usize) -> Result<Batch> {
        let start = b * self.batch_size;
        let end = (start + self.batch_size).min(self.order.len());
        let rows: Vec<(&T, Option<usize>)> =
            self.order[start..end].iter().map(|&i| (&self.dataset.items()[i], self.dataset.label(i))).collect();
        let batch = self.collate.collate(&rows, mix_seed(self.seed, b as u64))?;
        Ok(if self.device == Device::Cpu { batch } else { batch.to_device(self.device) })
    }
}

/// The batches of one epoch; ends early when the user presses stop.
pub struct Batches {
    receivers: Vec<Receiver<Result<Batch>>>,
    inline: Option<Arc<dyn BatchSource>>,
    next: usize,
    total: usize,
    stop: Arc<AtomicBool>,
    waited: Duration,
}

impl Batches {
    /// Time spent waiting for a batch that was not ready yet (the data pipeline's stall).
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl interrupt::StopsCleanly for Batches {}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.next >= self.total || interrupt::requested() {
            self.stop.store(true, Ordering::Relaxed);
            return None;
        }
        let b = self.next;
        self.next += 1;
        let started = Instant::now();
        let out = match &self.inline {
            Some(job) => Some(job.batch(b)),
            // A worker that stopped (at the stop button) closes its channel: the epoch ends.
            None => self.receivers[b % self.receivers.len()].recv().ok(),
        };
        self.waited += started.elapsed();
        out
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total - self.next;
        (0, Some(left))
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
