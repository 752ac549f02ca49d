//! The stop button ends a loader's epoch cleanly (its own test binary: the flag is process-wide).

use tuna::prelude::*;

#[test]
fn interrupt_ends_a_loader_epoch() -> Result<()> {
    let ds = Dataset::new("ramps", (0..64).map(|_| Image::new(8, 8, 1, vec![0; 64]).unwrap_or_else(|e| panic!("{e}"))).collect());
    let loader = Loader::new(ds, 4, ImageBatch::new(Transforms::new())).workers(2);
    let mut batches = loader.epoch(0);
    assert!(batches.next().is_some());
    interrupt::request();
    assert!(batches.next().is_none(), "the epoch ends at the stop button");
    interrupt::clear();
    Ok(())
}
