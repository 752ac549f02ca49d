//! One rank of a job that checks c10d's collectives from Rust; started by `tuna launch`,
//! `torchrun --no-python`, or beside Python ranks (tests/test_dist.py). Prints one JSON line
//! with what it saw. `--root R` picks the broadcasting rank; `--die-at-step S` makes rank
//! `--die-rank` (default the last) exit abruptly before step S of a loop of all-reduces.

use serde_json::json;
use tch::{Kind, Tensor};
use tuna::dist::{ProcessGroup, ReduceOp};

fn arg(args: &[String], name: &str) -> Option<usize> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

fn main() -> tuna::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let group = ProcessGroup::from_env()?;
    let (rank, world) = (group.rank(), group.world_size());
    let root = arg(&args, "--root").unwrap_or(0);
    // all_reduce: ranks hold rank+1 in 3 places, one of them a strided view.
    let mut sum = Tensor::full([3], (rank + 1) as f64, (Kind::Float, tch::Device::Cpu));
    group.all_reduce(&mut sum, ReduceOp::Sum)?;
    let base = Tensor::arange(6, (Kind::Float, tch::Device::Cpu)).reshape([2, 3]) * (rank + 1) as f64;
    let mut strided = base.transpose(0, 1);
    group.all_reduce(&mut strided, ReduceOp::Max)?;
    let mut b = Tensor::full([4], (rank * 10) as f64, (Kind::Int64, tch::Device::Cpu));
    group.broadcast(&mut b, root)?;
    group.barrier()?;
    let gathered = group.all_gather(&Tensor::from_slice(&[rank as i64 * 100]))?;
    let rows = group.gather_rows(&(Tensor::ones([rank as i64 + 1, 2], (Kind::Float, tch::Device::Cpu)) * rank as f64))?;
    if let Some(die) = arg(&args, "--die-at-step") {
        let victim = arg(&args, "--die-rank").unwrap_or(world - 1);
        for step in 0..1000 {
            if step == die && rank == victim {
                std::process::exit(3);
            }
            let mut t = Tensor::ones([1 << 16], (Kind::Float, tch::Device::Cpu));
            if let Err(e) = group.all_reduce(&mut t, ReduceOp::Sum) {
                eprintln!("rank {rank}: {e}");
                std::process::exit(1);
            }
        }
    }
    let out = json!({
        "rank": rank,
        "world": world,
        "sum": Vec::<f32>::try_from(&sum)?,
        "max_strided": Vec::<f32>::try_from(strided.contiguous().view([-1]))?,
        "broadcast": Vec::<i64>::try_from(&b)?,
        "gathered": gathered.iter().map(|t| t.int64_value(&[0])).collect::<Vec<_>>(),
        "rows": Vec::<f32>::try_from(rows.select(1, 0))?,
    });
    println!("{out}");
    Ok(())
}
