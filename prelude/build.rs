//! Builds `csrc/dist.cpp`, tuna's bridge to PyTorch's c10d (TCPStore, ProcessGroupGloo and
//! DDP's Reducer, all exported by the torch wheel's libtorch_cpu.so), against the headers of the
//! libtorch that tch links (torch-sys tells us where: `DEP_TCH_LIBTORCH_LIB`). The wheel ships
//! no gloo headers; the few that ProcessGroupGloo.hpp includes are vendored in `csrc/gloo`
//! (see csrc/gloo/README.md).
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=csrc");
    let lib = PathBuf::from(env::var("DEP_TCH_LIBTORCH_LIB").expect(
        "torch-sys did not say where libtorch is (DEP_TCH_LIBTORCH_LIB): build through `make` or `. scripts/env.sh`",
    ));
    let root = lib.parent().map(PathBuf::from).unwrap_or_else(|| lib.clone());
    let include = root.join("include");
    cc::Build::new()
        .cpp(true)
        .file("csrc/dist.cpp")
        .include("csrc/gloo")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .define("USE_C10D_GLOO", None)
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        .warnings(false)
        .compile("tuna_dist");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
