//! Runs a closure compiled for the widest vector instructions the CPU has, chosen at run time, so
//! plugins gain AVX2 without `unsafe` and the binaries stay portable (baseline x86-64 elsewhere).
//!
//! Only integer and plain floating-point arithmetic is affected: Rust never fuses multiply-adds
//! on its own, so results are bit-identical whichever version runs.

// One `unsafe` call: entering the AVX2-compiled wrapper after detecting AVX2.
#![allow(unsafe_code)]

/// Runs `f`, compiled for AVX2 when the CPU supports it. Mark the closure itself
/// `#[inline(always)]` (`widest(#[inline(always)] || kernel(...))`, with `kernel` and what it
/// calls `#[inline(always)]` too), so its body is compiled inside the AVX2 wrapper: a closure
/// left to the inliner's judgement stays a function of its own, compiled for the baseline CPU,
/// once its body is large (the blur's kernels ran 4× slower that way).
#[inline(always)]
pub fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: `avx2` needs nothing but AVX2 support, which was just detected.
        return unsafe { avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    #[test]
    fn returns_what_the_closure_returns() {
        let v: Vec<u64> = (0..1000).collect();
        let want: u64 = v.iter().map(|x| x * x).sum();
        assert_eq!(super::widest(|| v.iter().map(|x| x * x).sum::<u64>()), want);
    }
}
