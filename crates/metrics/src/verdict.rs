//! Proposition 1 of Zhu et al. 2019 read at one checkpoint: each premise and the conclusion in
//! words, and one [`Verdict`], so that a report states what the numbers say, not just them.

use crate::proposition::{bound_exceeds_ratio, Proposition1};

/// How many standard errors a comparison the verdict turns on must clear to count: the ratio's
/// shortfall below the bound (Tr(HΣ)'s error), and the bound's distance from 1 (Tr(H)'s).
pub const VIOLATION_STDERRS: f64 = 3.0;

/// What Proposition 1's numbers say at one checkpoint.
///
/// With â in place of a, condition 2 holds with equality and bound ≤ ratio reads
/// λ₁·u₁ᵀΣu₁ ≤ Tr(HΣ): true whenever H ⪰ 0. So the bound holding proves nothing by itself; the
/// proposition predicts faster escape than isotropic noise only where its bound exceeds 1, and
/// only for an H checked to be positive semi-definite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// H ⪰ 0 as far as λ_min (or the whole spectrum) tells, condition 1 holds (d_k > ½), the
    /// bound exceeds 1 and Tr(HΣ)/Tr(HΣ̄) is at least the bound: the anisotropic noise escapes
    /// faster than isotropic noise of equal size, as the proposition predicts.
    Confirmed,
    /// Both conditions hold and the ratio is at least the bound, but the bound is ≤ 1 (â too
    /// small for the ill-conditioning): the proposition does not guarantee faster escape (a
    /// lower bound of 1 or less says nothing either way).
    BoundBelowOne,
    /// The ratio is at least the bound, but condition 1 (d_k > ½) is not reached among the
    /// (converged) eigenvalues computed, or only at a k not ≪ D (k > √D,
    /// [`Proposition1::ill_conditioned_at_small_k`]), so the bound is not shown to grow with D.
    BoundOnly,
    /// The ratio is at least the bound, but λ_min was not computed or did not converge (and
    /// the whole spectrum was not computed): the proposition's assumption H ⪰ 0 is not
    /// checked, and the bound holds for any H ⪰ 0.
    AssumptionUnchecked,
    /// Inconclusive: the ratio is below the bound by less than [`VIOLATION_STDERRS`] standard
    /// errors of the stochastic Tr(HΣ), or (both conditions holding) the bound is that close to
    /// 1 for the stochastic Tr(H), so that which side of 1 it lies on is not known.
    WithinError,
    /// The ratio is below the bound beyond estimation error with no negative curvature seen,
    /// which H ⪰ 0 rules out: H must be indefinite (a λ_min that was not computed or did not
    /// converge) or an input is inaccurate (u₁ not an exact eigenvector at a loose tolerance,
    /// or a stochastic Tr(HΣ) off by more than its errors: Tr(H) cancels from the comparison).
    Violated,
    /// H has negative curvature: outside the proposition, which assumes H ⪰ 0.
    OutsideAssumptions,
    /// â or the ratio is undefined (Tr(H), λ₁ or Tr(Σ) not positive).
    Undefined,
}

/// Proposition 1 at one checkpoint in words (see [`reading`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// Condition 1 (ill-conditioning, d_k > ½).
    pub ill_conditioning: String,
    /// Condition 2 (alignment, â).
    pub alignment: String,
    /// Whether H ⪰ 0, as far as the computed eigenvalues tell.
    pub curvature: String,
    /// The bound against the measured ratio.
    pub conclusion: String,
    /// The reading as a value, for tables and tests.
    pub verdict: Verdict,
}

/// A number in a sentence: four significant digits.
fn number(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&x.abs()) {
        let decimals = (3 - x.abs().log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        format!("{x:.3e}")
    }
}

/// Reads `p`, with Tr(HΣ) and its standard error (0 when exact) deciding whether a ratio
/// below the bound is beyond estimation error, and Tr(H)'s standard error (0 when exact)
/// whether the bound is beyond it from 1.
///
/// ```
/// use curvscope_metrics::{proposition1, reading, LambdaMin, Verdict};
/// // The paper's 2-D toy: H eigenvalues 200, 20; Tr(Σ) = 4.4, u₁ᵀΣu₁ = 4, Tr(HΣ) = 808.
/// let lambda_min = LambdaMin { value: 20.0, converged: true };
/// let p = proposition1(&[200.0, 20.0], Some(lambda_min), 220.0, 4.4, 4.0, 808.0, 2);
/// let r = reading(&p, 808.0, 0.0, 0.0);
/// assert_eq!(r.verdict, Verdict::Confirmed);
/// assert!(r.conclusion.contains("the bound exceeds 1"), "{}", r.conclusion);
/// ```
pub fn reading(
    p: &Proposition1,
    trace_h_sigma: f64,
    trace_h_sigma_stderr: f64,
    trace_h_stderr: f64,
) -> Reading {
    let left_out = match p.ill_conditioning_unconverged {
        0 => String::new(),
        n => format!(
            " ({n} of the top eigenvalues left out: their Lanczos pairs did not converge, and \
             an unconverged λ_(k+1) is too small)"
        ),
    };
    let ill_conditioning = match p.first_ill_conditioned_k {
        Some(k) if p.ill_conditioned_at_small_k() => format!(
            "Condition 1 (ill-conditioning) holds: λ_(k+1) < λ₁/√D first at k = {k} \
             (d_k > ½, D = {})",
            p.dim
        ),
        Some(k) => format!(
            "Condition 1 (ill-conditioning) is met only at k = {k}, not ≪ D = {} (k > √D): \
             d_k > ½ there does not make the bound grow with D (Tr(H) < λ₁·(k + D^(1−d)) is \
             then of the order of k·λ₁)",
            p.dim
        ),
        None if p.ill_conditioning_k_max == 0 => format!(
            "Condition 1 (ill-conditioning) is not tested: it needs λ₂, and {}{left_out}",
            match (p.dim, p.ill_conditioning_unconverged) {
                (1, _) => "D = 1 has one eigenvalue".to_string(),
                (_, 0) => "only λ₁ is known (raise -k)".to_string(),
                _ => "no λ₂ converged (raise --max-krylov, or --restarts)".to_string(),
            }
        ),
        None => {
            let best = p
                .largest_ill_conditioning
                .as_ref()
                .and_then(|c| c.d.map(|d| (c.k, d)));
            let best = best.map_or(String::new(), |(k, d)| {
                format!("; the largest d_k tested is {} at k = {k}", number(d))
            });
            format!(
                "Condition 1 (ill-conditioning) is not reached within k ≤ {}: no d_k > ½{best}\
                 {left_out}",
                p.ill_conditioning_k_max
            )
        }
    };
    let alignment = match p.projection_coefficient {
        Some(a) => format!(
            "Condition 2 (alignment): â = {}, i.e. the noise variance along u₁ is {} × \
             λ₁·Tr(Σ)/Tr(H)",
            number(a),
            number(a)
        ),
        None => "Condition 2 (alignment): â is undefined (Tr(H), λ₁ or Tr(Σ) is not positive, \
                 or one of them or u₁ᵀΣu₁ is not finite)"
            .to_string(),
    };
    let curvature = match p.negative_curvature {
        Some(true) => "Negative curvature found: H is indefinite, outside the proposition's \
                       assumption H ⪰ 0, so its bound need not hold"
            .to_string(),
        Some(false) => "No negative curvature: the smallest eigenvalue (a converged λ_min, or \
                        the whole spectrum's) is not below zero"
            .to_string(),
        None => "Negative curvature unknown: λ_min was not computed, did not converge or is not \
                 finite, and the whole spectrum was not computed"
            .to_string(),
    };
    let (conclusion, verdict) = match (p.bound, p.ratio) {
        (Some(bound), Some(ratio)) => {
            let compared = format!(
                "Tr(HΣ)/Tr(HΣ̄) = {} against the bound â·λ₁²·D/Tr(H)² = {}",
                number(ratio),
                number(bound)
            );
            // bound ≤ ratio ⟺ λ₁u₁ᵀΣu₁ ≤ Tr(HΣ): only Tr(HΣ)'s error moves the comparison.
            // The shortfall λ₁u₁ᵀΣu₁ − Tr(HΣ) = (bound − ratio)·Tr(HΣ̄), Tr(HΣ̄) > 0 where the
            // ratio is defined, whatever Tr(HΣ)'s sign (a negative one is the strongest sign of
            // an indefinite H). Older records lack Tr(HΣ̄): Tr(HΣ)/ratio, unless Tr(HΣ) is 0.
            let isotropic = p.isotropic_trace_h_sigma.unwrap_or(trace_h_sigma / ratio);
            let shortfall = (bound - ratio) * isotropic;
            let measured = if ratio_near_one(
                ratio,
                isotropic,
                p.trace_h,
                trace_h_sigma_stderr,
                trace_h_stderr,
            ) {
                format!(
                    "measured, the ratio is within {VIOLATION_STDERRS} standard errors of 1 for \
                     the stochastic traces, so whether the noise escapes faster than isotropic \
                     noise of the same size is not resolved"
                )
            } else if ratio > 1.0 {
                "measured (ratio > 1), the noise escapes faster than isotropic noise of the same \
                 size"
                    .to_string()
            } else {
                "measured, the noise escapes no faster than isotropic noise of the same size \
                 (ratio ≤ 1)"
                    .to_string()
            };
            let automatic = "as it must for any H ⪰ 0 (with a = â it reads λ₁u₁ᵀΣu₁ ≤ Tr(HΣ))";
            if p.negative_curvature == Some(true) {
                (
                    format!("{compared}; {measured}"),
                    Verdict::OutsideAssumptions,
                )
            } else if bound_exceeds_ratio(bound, ratio)
                && shortfall <= VIOLATION_STDERRS * trace_h_sigma_stderr
            {
                (
                    format!("{compared}: the ratio is below the bound, but within {VIOLATION_STDERRS} standard errors of the stochastic Tr(HΣ): inconclusive"),
                    Verdict::WithinError,
                )
            } else if bound_exceeds_ratio(bound, ratio) {
                let cause = match p.negative_curvature {
                    Some(false) => "yet H ⪰ 0 was checked: an input is inaccurate (u₁ is no exact eigenvector at a loose --tol, or a stochastic Tr(HΣ) is off by more than 3 of its stated errors, likely with few probes)",
                    _ => "so H has negative curvature not seen here (λ_min not computed or not converged), or an input is inaccurate (u₁ at a loose --tol, or a stochastic Tr(HΣ) off by more than 3 of its errors)",
                };
                (
                    format!("{compared}: the ratio is below the bound beyond estimation error, which H ⪰ 0 rules out (λ₁u₁ᵀΣu₁ ≤ Tr(HΣ)); {cause}"),
                    Verdict::Violated,
                )
            } else if p.negative_curvature.is_none() {
                (
                    format!("{compared}: the ratio is ≥ the bound, {automatic}, but H ⪰ 0 is not checked here; {measured}"),
                    Verdict::AssumptionUnchecked,
                )
            } else if !p.ill_conditioned_at_small_k() {
                (
                    format!("{compared}: the ratio is ≥ the bound, {automatic}, but without condition 1 at a k ≪ D the bound is not shown to grow with D; {measured}"),
                    Verdict::BoundOnly,
                )
            } else if bound_near_one(bound, p.trace_h, trace_h_stderr) {
                (
                    format!("{compared}: both conditions hold and the ratio is ≥ the bound, but the stochastic Tr(H) = {} ± {} is within {VIOLATION_STDERRS} standard errors of {}, where the bound would be 1, so whether Proposition 1 predicts faster escape is inconclusive; {measured}", number(p.trace_h), number(trace_h_stderr), number(bound * p.trace_h)),
                    Verdict::WithinError,
                )
            } else if bound <= 1.0 {
                (
                    format!("{compared}: both conditions hold and the ratio is ≥ the bound, but the bound is ≤ 1 (â too small for this ill-conditioning), so Proposition 1 does not guarantee faster escape (a bound ≤ 1 says nothing either way); {measured}"),
                    Verdict::BoundBelowOne,
                )
            } else {
                (
                    format!("{compared}: both conditions hold, the bound exceeds 1 and the ratio is ≥ it: anisotropic noise escapes faster than isotropic noise of the same size, as Proposition 1 predicts"),
                    Verdict::Confirmed,
                )
            }
        }
        _ if p.negative_curvature == Some(true) => (
            "The bound or the ratio is undefined".to_string(),
            Verdict::OutsideAssumptions,
        ),
        _ => (
            "The bound or the ratio is undefined (Tr(HΣ̄) ≤ 0 or â undefined)".to_string(),
            Verdict::Undefined,
        ),
    };
    Reading {
        ill_conditioning,
        alignment,
        curvature,
        conclusion,
        verdict,
    }
}

/// Whether Tr(H)'s estimation error leaves the bound's side of 1 open. With â's own factor
/// Tr(H) the bound is u₁ᵀΣu₁·λ₁·D/(Tr(Σ)·Tr(H)) = C/Tr(H), everything in C exact or
/// Lanczos-accurate, so bound = 1 exactly where Tr(H) = C = bound·Tr(H): the question is whether
/// C lies within [`VIOLATION_STDERRS`] standard errors of the estimated Tr(H), i.e.
/// |bound − 1|·Tr(H) < 3·se (strictly: an exact Tr(H), se = 0, leaves nothing open). (A delta-method error of the bound, bound·se/Tr(H), would weigh
/// the same distance by the bound itself: too ready to call a bound above 1 open, too slow
/// below.)
fn bound_near_one(bound: f64, trace_h: f64, trace_h_stderr: f64) -> bool {
    (bound - 1.0).abs() * trace_h < VIOLATION_STDERRS * trace_h_stderr
}

/// Whether the estimation errors leave the measured ratio's side of 1 open. ratio − 1 =
/// (Tr(HΣ) − Tr(HΣ̄))/Tr(HΣ̄), and with Tr(Σ) exact and the two traces from independent
/// seeds, Tr(HΣ) − Tr(HΣ̄) has the standard error √(se_HΣ² + (Tr(HΣ̄)·se_H/Tr(H))²), Tr(HΣ̄)
/// being Tr(H)·Tr(Σ)/D. Exact traces leave nothing open.
fn ratio_near_one(
    ratio: f64,
    isotropic: f64,
    trace_h: f64,
    trace_h_sigma_stderr: f64,
    trace_h_stderr: f64,
) -> bool {
    let stderr = trace_h_sigma_stderr.hypot(isotropic * trace_h_stderr / trace_h);
    ((ratio - 1.0) * isotropic).abs() < VIOLATION_STDERRS * stderr
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{proposition1, LambdaMin};

    fn converged(value: f64) -> Option<LambdaMin> {
        Some(LambdaMin {
            value,
            converged: true,
        })
    }

    /// H = diag(200, 20), so Tr(HΣ) = 200·Σ₁₁ + 20·Σ₂₂ and the bound is 200·Σ₁₁ in the same
    /// units: every verdict follows from where Tr(HΣ) falls.
    fn toy(trace_h_sigma: f64, eigenvalues: &[f64], lambda_min: Option<LambdaMin>) -> Proposition1 {
        let trace_h = eigenvalues.iter().sum();
        proposition1(
            eigenvalues,
            lambda_min,
            trace_h,
            4.4,
            4.0,
            trace_h_sigma,
            eigenvalues.len(),
        )
    }

    /// Condition 1 not reached within k ≤ 4 of D = 1000: the largest d_k is at k = 4
    /// (ln(100/60)/ln 1000 = 0.07395), though prop1.csv's table stops at k = 1.
    #[test]
    fn the_largest_d_k_is_over_every_k_tested() {
        let p = proposition1(
            &[100.0, 90.0, 80.0, 70.0, 60.0],
            converged(60.0),
            1000.0,
            4.4,
            4.0,
            800.0,
            1000,
        );
        assert_eq!(p.ill_conditioning.len(), 1);
        let r = reading(&p, 800.0, 0.0, 0.0);
        assert!(
            r.ill_conditioning
                .contains("the largest d_k tested is 0.07395 at k = 4"),
            "{}",
            r.ill_conditioning
        );
    }

    /// k ≪ D: a rank-10 H in D = 15 meets d_k > ½ at k = 10 > √15 through λ₁₁ = 0 alone; with
    /// a bound of 1.5 under a ratio of 15 this read "Confirmed". With one eigenvalue, or
    /// D = 1, condition 1 is not tested, and says why.
    #[test]
    fn condition_1_needs_a_k_small_against_d() {
        let mut eigenvalues = vec![1.0; 10];
        eigenvalues.push(0.0);
        let p = proposition1(&eigenvalues, converged(0.0), 10.0, 1.0, 1.0, 10.0, 15);
        assert_eq!((p.first_ill_conditioned_k, p.bound), (Some(10), Some(1.5)));
        assert_eq!(reading(&p, 10.0, 0.0, 0.0).verdict, Verdict::BoundOnly);
        let one = proposition1(&[2.0], None, 2.0, 1.0, 1.0, 2.0, 1);
        let top1 = proposition1(&[2.0], None, 2.0, 1.0, 1.0, 2.0, 50);
        for (p, words) in [
            (&p, &["not ≪ D = 15"][..]),
            (&one, &["not tested", "D = 1 has one eigenvalue"]),
            (&top1, &["not tested", "raise -k"]),
        ] {
            let said = reading(p, 2.0, 0.0, 0.0).ill_conditioning;
            assert!(words.iter().all(|w| said.contains(w)), "{said}");
        }
    }

    #[test]
    fn each_verdict_where_its_premises_put_it() {
        // D = 2: condition 1 needs λ₂ < λ₁/√2; 20 < 141 holds, 150 does not.
        let p = toy(808.0, &[200.0, 20.0], converged(20.0));
        assert_eq!(reading(&p, 808.0, 0.0, 0.0).verdict, Verdict::Confirmed);
        let p = toy(1400.0, &[200.0, 150.0], converged(150.0));
        let r = reading(&p, 1400.0, 0.0, 0.0);
        assert_eq!(r.verdict, Verdict::BoundOnly);
        assert!(
            r.conclusion.contains("not shown to grow with D"),
            "{}",
            r.conclusion
        );
        assert!(
            r.ill_conditioning.contains("not reached"),
            "{}",
            r.ill_conditioning
        );
        // The same numbers with H ⪰ 0 unchecked: the bound holds for any H ⪰ 0, so not "as
        // predicted".
        let p = toy(808.0, &[200.0, 20.0], None);
        let r = reading(&p, 808.0, 0.0, 0.0);
        assert_eq!(r.verdict, Verdict::AssumptionUnchecked);
        assert!(r.conclusion.contains("not checked"), "{}", r.conclusion);
        // Little noise along u₁ (u₁ᵀΣu₁ = 0.4, Σ₂₂ = 4): â = 0.1, bound 0.165 ≤ ratio
        // 160/484 = 0.33 < 1. Both conditions "hold", the bound is automatic, and the noise
        // escapes slower than isotropic noise: no confirmation.
        let p = proposition1(&[200.0, 20.0], converged(20.0), 220.0, 4.4, 0.4, 160.0, 2);
        let r = reading(&p, 160.0, 0.0, 0.0);
        assert_eq!(r.verdict, Verdict::BoundBelowOne);
        assert!(
            r.conclusion.contains("no faster than isotropic")
                && r.conclusion.contains("does not guarantee faster escape"),
            "{}",
            r.conclusion
        );
        // An exact negative Tr(HΣ) with λ_min unknown: violated, not "within error".
        let p = toy(-100.0, &[200.0, 20.0], None);
        assert_eq!(reading(&p, -100.0, 0.0, 0.0).verdict, Verdict::Violated);
        assert_eq!(
            reading(&p, -100.0, 400.0, 0.0).verdict,
            Verdict::WithinError
        );
        // λ₁u₁ᵀΣu₁ = 800 > Tr(HΣ) = 790: impossible for H ⪰ 0 unless Tr(HΣ) is off by its error.
        let p = toy(790.0, &[200.0, 20.0], None);
        let r = reading(&p, 790.0, 0.0, 0.0);
        assert_eq!(r.verdict, Verdict::Violated);
        assert!(
            r.conclusion.contains("negative curvature not seen here"),
            "{}",
            r.conclusion
        );
        // With H ⪰ 0 checked, the cause is an inaccurate input, not hidden curvature.
        let checked = toy(790.0, &[200.0, 20.0], converged(20.0));
        let r = reading(&checked, 790.0, 0.0, 0.0);
        assert_eq!(r.verdict, Verdict::Violated);
        assert!(
            r.conclusion
                .contains("yet H ⪰ 0 was checked: an input is inaccurate")
                && !r.conclusion.contains("negative curvature not seen"),
            "{}",
            r.conclusion
        );
        assert_eq!(reading(&p, 790.0, 5.0, 0.0).verdict, Verdict::WithinError);
        assert_eq!(reading(&p, 790.0, 3.0, 0.0).verdict, Verdict::Violated);
        // A stochastic Tr(HΣ) of exactly 0 (ratio 0): the shortfall is all of λ₁u₁ᵀΣu₁ = 800,
        // within 3 × 1000, beyond 3 × 100.
        let p = toy(0.0, &[200.0, 20.0], None);
        assert_eq!(reading(&p, 0.0, 1000.0, 0.0).verdict, Verdict::WithinError);
        assert_eq!(reading(&p, 0.0, 100.0, 0.0).verdict, Verdict::Violated);
        // A record written before Tr(HΣ̄) was kept reads the same from Tr(HΣ)/ratio.
        let older = Proposition1 {
            isotropic_trace_h_sigma: None,
            ..toy(790.0, &[200.0, 20.0], None)
        };
        assert_eq!(
            reading(&older, 790.0, 5.0, 0.0).verdict,
            Verdict::WithinError
        );
        assert_eq!(reading(&older, 790.0, 3.0, 0.0).verdict, Verdict::Violated);
        // Tr(HΣ) = λ₁u₁ᵀΣu₁ = 800 (no noise off u₁), 1e-15 short by rounding: the bound meets
        // the ratio, it is not violated.
        let p = toy(800.0 * (1.0 - 1e-15), &[200.0, 20.0], converged(20.0));
        assert_eq!(p.bound_holds, Some(true));
        assert_eq!(reading(&p, 800.0, 0.0, 0.0).verdict, Verdict::Confirmed);
        // A stochastic Tr(H) = 220 ± se: the bound C/Tr(H) = 1.653 reaches 1 at Tr(H) = C =
        // 363.6, which is 3 standard errors from 220 once se ≥ 0.653·220/3 = 47.9.
        let p = toy(808.0, &[200.0, 20.0], converged(20.0));
        assert_eq!(reading(&p, 808.0, 0.0, 45.0).verdict, Verdict::Confirmed);
        let r = reading(&p, 808.0, 0.0, 50.0);
        assert_eq!(r.verdict, Verdict::WithinError);
        assert!(
            r.conclusion
                .contains("Tr(H) = 220.0 ± 50.00 is within 3 standard errors of 363.6"),
            "{}",
            r.conclusion
        );
        // Below 1 likewise: bound 0.165 reaches 1 at Tr(H) = 36.4, 3 standard errors from 220
        // at se = 0.835·220/3 = 61.2.
        let p = proposition1(&[200.0, 20.0], converged(20.0), 220.0, 4.4, 0.4, 160.0, 2);
        assert_eq!(
            reading(&p, 160.0, 0.0, 58.0).verdict,
            Verdict::BoundBelowOne
        );
        assert_eq!(reading(&p, 160.0, 0.0, 64.0).verdict, Verdict::WithinError);
        // The measured ratio 160/484 = 0.331 against 1: Tr(HΣ) − Tr(HΣ̄) = 160 − 484 = −324 is
        // 3 standard errors from 0 at se_HΣ = 108 (Tr(H) exact), and with se_HΣ = 0 at
        // se_H = 108·220/484 = 49.1.
        let resolved = "escapes no faster than isotropic noise";
        let open = "within 3 standard errors of 1";
        for (se_hs, se_h, words) in [
            (0.0, 0.0, resolved),
            (100.0, 0.0, resolved),
            (110.0, 0.0, open),
            (0.0, 45.0, resolved),
            (0.0, 52.0, open),
        ] {
            let r = reading(&p, 160.0, se_hs, se_h);
            assert!(
                r.conclusion.contains(words),
                "{se_hs} {se_h}: {}",
                r.conclusion
            );
        }
        let p = toy(790.0, &[200.0, 20.0], converged(-5.0));
        let r = reading(&p, 790.0, 0.0, 0.0);
        assert_eq!(r.verdict, Verdict::OutsideAssumptions);
        assert!(r.curvature.contains("indefinite"), "{}", r.curvature);
        let p = proposition1(&[200.0, 20.0], None, 220.0, 0.0, 0.0, 0.0, 2);
        let r = reading(&p, 0.0, 0.0, 0.0);
        assert_eq!(r.verdict, Verdict::Undefined);
        assert!(r.alignment.contains("undefined"), "{}", r.alignment);
        assert!(r.curvature.contains("unknown"), "{}", r.curvature);
    }

    /// A NaN from upstream (an f32 overflow in Tr(HΣ) or u₁ᵀΣu₁) fails every comparison, so it
    /// once read as "the bound holds" and "Confirmed"; it must read as undefined.
    #[test]
    fn a_non_finite_input_is_undefined_not_confirmed() {
        let p = toy(f64::NAN, &[200.0, 20.0], converged(20.0));
        assert_eq!((p.ratio, p.bound_holds), (None, None));
        assert_eq!(reading(&p, f64::NAN, 0.0, 0.0).verdict, Verdict::Undefined);
        let p = proposition1(
            &[200.0, 20.0],
            converged(20.0),
            220.0,
            4.4,
            f64::NAN,
            808.0,
            2,
        );
        assert_eq!((p.projection_coefficient, p.bound_holds), (None, None));
        assert_eq!(reading(&p, 808.0, 0.0, 0.0).verdict, Verdict::Undefined);
        let p = toy(808.0, &[f64::INFINITY, 20.0], converged(20.0));
        assert_eq!(p.bound_holds, None);
        assert!(p.ill_conditioning.iter().all(|c| c.d.is_none() && !c.holds));
        assert_eq!(reading(&p, 808.0, 0.0, 0.0).verdict, Verdict::Undefined);
    }

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(number(1.23456), "1.235");
        assert_eq!(number(808.0), "808.0");
        assert_eq!(number(0.0123456), "0.01235");
        assert_eq!(number(1.5e-7), "1.500e-7");
        assert_eq!(number(0.0), "0");
    }
}
