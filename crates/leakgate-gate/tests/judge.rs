//! The judge on generated series: leaks caught, the usual non-leaks not.

use leakgate_gate::judge::{JudgeOptions, Status, TrendReason, assess_trend, judge};
use leakgate_gate::testing::{Samples, Shape, budgets, shape};
use leakgate_scenario::TypeFilter;
use leakgate_scenario::budget::Unit;

const MIB: f64 = 1048576.0;
const BASE: f64 = 20.0 * MIB;

fn no_warmup() -> JudgeOptions {
    JudgeOptions {
        warmup_samples: 0,
        ..Default::default()
    }
}

fn verdict_for(values: &[f64]) -> Status {
    let samples = Samples::new(values.len())
        .scalar("committed.unknown", values)
        .build();
    judge(
        &samples,
        &budgets("- metric: committed.unknown\n"),
        &TypeFilter::none(),
        &no_warmup(),
    )
    .status
}

/// The situations from the design notes, with ±5% noise of the base level.
fn situations() -> Vec<(&'static str, Shape, bool)> {
    vec![
        (
            "linear growth 1 MiB/sample",
            Shape::Linear { per_sample: MIB },
            true,
        ),
        ("flat noise", Shape::Flat, false),
        (
            "step then flat",
            Shape::Step {
                at: 4,
                height: 8.0 * MIB,
            },
            false,
        ),
        (
            "sawtooth",
            Shape::Sawtooth {
                period: 4,
                amplitude: 6.0 * MIB,
            },
            false,
        ),
        (
            "cache fills during the first 2 samples, then flat",
            Shape::CacheFill {
                samples: 2,
                height: 16.0 * MIB,
            },
            false,
        ),
    ]
}

#[test]
fn leaks_fail_and_non_leaks_pass_for_fixed_seeds() {
    for (name, sh, leak) in situations() {
        for seed in 1..=5 {
            let v = shape(12, BASE, sh, 0.05, seed);
            let want = if leak { Status::Fail } else { Status::Pass };
            assert_eq!(verdict_for(&v), want, "{name}, seed {seed}: {v:?}");
        }
    }
}

#[test]
fn noise_free_shapes_are_decided_exactly() {
    for (name, sh, leak) in situations() {
        let v = shape(12, BASE, sh, 0.0, 0);
        let want = if leak { Status::Fail } else { Status::Pass };
        assert_eq!(verdict_for(&v), want, "{name}: {v:?}");
    }
}

/// Rates over 1,000 seeds at 12 samples, ±5% uniform noise. Measured with
/// the first rule: linear 1000/1000, flat 6, step 0, sawtooth 2, cache 0.
/// With the current rule (`growth` module docs): linear 1000, flat 15,
/// step 0, sawtooth 0, cache 0. Flat noise's bound moved from 15 to 25
/// deliberately: the penalised comparison lets a line beat a step that
/// fits no better (the step's place is a parameter), which is what
/// catches leaks under the GC's free-band noise (89% instead of 87% at 8
/// judged samples on 20 MiB, 48% instead of 14% on 400 MiB), at the cost
/// of chance drifts in flat noise of ±5%; the other bounds tightened.
#[test]
fn error_rates_over_many_seeds() {
    for (name, sh, leak) in situations() {
        let hits = (0..1000u64)
            .filter(|&seed| {
                let v = shape(12, BASE, sh, 0.05, seed);
                assess_trend(&v, Unit::Bytes, 0.05).growing
            })
            .count();
        let bound = match sh {
            Shape::Flat => 25,
            _ => 10,
        };
        if leak {
            assert!(hits >= 990, "{name}: caught only {hits}/1000");
        } else {
            assert!(hits <= bound, "{name}: {hits}/1000 false alarms");
        }
    }
}

/// Each situation says why, in a typed reason.
#[test]
fn noise_free_shapes_carry_their_reason() {
    use leakgate_gate::judge::TrendReason;
    let reason = |sh| assess_trend(&shape(12, BASE, sh, 0.0, 0), Unit::Bytes, 0.05).reason;
    assert_eq!(
        reason(Shape::Linear { per_sample: MIB }),
        TrendReason::Growing
    );
    assert_eq!(reason(Shape::Flat), TrendReason::NotSignificant);
    // Without noise, a step at 4 of 12 leaves Theil–Sen's median slope at 0.
    assert_eq!(
        reason(Shape::Step {
            at: 4,
            height: 8.0 * MIB
        }),
        TrendReason::NotSignificant
    );
    assert_eq!(
        reason(Shape::Step {
            at: 6,
            height: 8.0 * MIB
        }),
        TrendReason::FlatAfterStep
    );
    let v = judge(
        &Samples::new(12)
            .scalar(
                "committed.unknown",
                &shape(
                    12,
                    BASE,
                    Shape::Step {
                        at: 6,
                        height: 8.0 * MIB,
                    },
                    0.0,
                    0,
                ),
            )
            .build(),
        &budgets("- metric: committed.unknown\n"),
        &TypeFilter::none(),
        &no_warmup(),
    );
    assert_eq!(v.checks[0].trend_reason, TrendReason::FlatAfterStep);
    assert!(
        v.checks[0].reasons[0]
            .to_string()
            .contains("; it rose, then stopped rising (p = "),
        "{:?}",
        v.checks[0].reasons
    );
}

#[test]
fn finalizable_counts_growing_every_sample_fail() {
    let counts: Vec<Option<u64>> = (0..8).map(|i| Some(100 + 40 * i)).collect();
    let samples = Samples::new(8)
        .finalizable("System.Reflection.Emit.DynamicResolver", &counts)
        .finalizable("System.Threading.Timer", &[Some(12); 8])
        .build();
    let v = judge(
        &samples,
        &budgets("- metric: finalizable\n  types: \"System.*\"\n"),
        &TypeFilter::none(),
        &JudgeOptions::default(),
    );
    assert_eq!(v.status, Status::Fail);
    assert_eq!(v.checks.len(), 2);
    let leak = &v.checks[0];
    assert_eq!(
        leak.type_name.as_deref(),
        Some("System.Reflection.Emit.DynamicResolver")
    );
    assert!(leak.grew_every_sample && leak.trend_growing);
    assert_eq!(leak.samples, 7, "warmup 1 by default");
    assert_eq!((leak.first, leak.last), (140.0, 380.0));
    // 40 per sample, samples 30 s and 1,000 requests apart.
    assert_eq!(leak.slope_per_min, Some(80.0));
    assert_eq!(leak.slope_per_1k_requests, Some(40.0));
    assert_eq!(v.checks[1].status, Status::Pass);
    assert_eq!(v.growing.len(), 1);
}

#[test]
fn trend_modes() {
    let v = shape(10, BASE, Shape::Linear { per_sample: MIB }, 0.0, 0);
    let samples = Samples::new(10).scalar("resident", &v).build();
    let run = |y: &str| judge(&samples, &budgets(y), &TypeFilter::none(), &no_warmup()).status;
    assert_eq!(run("- metric: resident\n  trend: fail\n"), Status::Fail);
    assert_eq!(run("- metric: resident\n  trend: warn\n"), Status::Warn);
    assert_eq!(
        run("- metric: resident\n  trend: off\n  max: 1GiB\n"),
        Status::Pass
    );
}

fn linear_mib(n: usize) -> Vec<Option<u64>> {
    (0..n).map(|i| Some(1000 + 10 * i as u64)).collect()
}

#[test]
fn limits_on_bytes() {
    // 4 MiB → 4 + 8·1 MiB over 9 samples, 1 minute and 2,000 requests apart.
    let v: Vec<f64> = (0..9).map(|i| (4 + i) as f64 * MIB).collect();
    let samples = Samples::with_rate(9, 60.0, 2000)
        .scalar("committed.unknown", &v)
        .build();
    let check = |y: &str| {
        let v = judge(&samples, &budgets(y), &TypeFilter::none(), &no_warmup());
        (v.status, v.checks[0].reason_texts().join(" | "))
    };
    let (st, why) = check("- metric: committed.unknown\n  trend: off\n  max_growth: 4MiB\n");
    assert_eq!(st, Status::Fail);
    assert_eq!(
        why,
        "grew 4.0 MiB → 12.0 MiB (+8.0 MiB) over 9 samples, above max_growth 4.0 MiB"
    );
    let (st, _) = check("- metric: committed.unknown\n  trend: off\n  max_growth: 8MiB\n");
    assert_eq!(st, Status::Pass);
    let (st, why) = check("- metric: committed.unknown\n  trend: off\n  max_growth: 150%\n");
    assert_eq!(st, Status::Fail);
    assert!(why.contains("200.0%, above max_growth 150%"), "{why}");
    let (st, why) = check("- metric: committed.unknown\n  trend: off\n  max: 10MiB\n");
    assert_eq!(st, Status::Fail);
    assert_eq!(why, "last value 12.0 MiB is above max 10.0 MiB");
    // Plain number on a byte metric is bytes.
    let (st, _) = check("- metric: committed.unknown\n  trend: off\n  max: 13000000\n");
    assert_eq!(st, Status::Pass);
    let (st, why) = check("- metric: committed.unknown\n  trend: off\n  max_slope: 512KiB/min\n");
    assert_eq!(st, Status::Fail);
    assert_eq!(
        why,
        "slope 1.0 MiB/min (Theil–Sen) is above max_slope 512.0 KiB/min"
    );
    let (st, _) = check("- metric: committed.unknown\n  trend: off\n  max_slope: 1MiB/min\n");
    assert_eq!(st, Status::Pass);
    // 1 MiB per 2,000 requests = 512 KiB per 1k.
    let (st, _) = check("- metric: committed.unknown\n  trend: off\n  max_slope: 500KiB/1k\n");
    assert_eq!(st, Status::Fail);
    let (st, _) = check("- metric: committed.unknown\n  trend: off\n  max_slope: 512KiB/1k\n");
    assert_eq!(st, Status::Pass);
}

#[test]
fn limits_on_counts_globs_and_ignore() {
    let samples = Samples::new(6)
        .finalizable("App.Cache+Entry", &linear_mib(6))
        .finalizable("System.Net.Sockets.Socket", &linear_mib(6))
        .finalizable("App.Other", &[Some(5); 6])
        .build();
    let ignore = TypeFilter::new(&["System.Net.Sockets.*".to_string()]).unwrap();
    let v = judge(
        &samples,
        &budgets("- metric: finalizable\n  trend: off\n  max_growth: 40\n  max_slope: 5/1k\n"),
        &ignore,
        &no_warmup(),
    );
    let names: Vec<_> = v.checks.iter().map(|c| c.key().to_string()).collect();
    assert_eq!(
        names,
        ["finalizable App.Cache+Entry", "finalizable App.Other"]
    );
    let c = &v.checks[0];
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.growth, 50.0);
    assert_eq!(c.reasons.len(), 2, "{:?}", c.reasons);
    assert!(
        c.reasons[1].to_string().contains("slope 10/1k requests"),
        "{:?}",
        c.reasons
    );
    assert_eq!(v.checks[1].status, Status::Pass);

    // A glob that matches nothing leaves a note, no check.
    let v = judge(
        &samples,
        &budgets("- metric: finalizable\n  types: \"Nope.*\"\n  max: 1\n"),
        &ignore,
        &no_warmup(),
    );
    assert!(v.checks.is_empty());
    assert_eq!(v.status, Status::Pass);
    assert!(
        v.notes.iter().any(|n| n.contains("no type matching")),
        "{:?}",
        v.notes
    );
}

#[test]
fn types_appearing_later_start_from_zero() {
    let samples = Samples::new(5)
        .finalizable("Late", &[None, None, Some(3), Some(30), Some(60)])
        .build();
    let v = judge(
        &samples,
        &budgets("- metric: finalizable\n  trend: off\n  max_growth: 10%\n"),
        &TypeFilter::none(),
        &no_warmup(),
    );
    let c = &v.checks[0];
    assert_eq!((c.first, c.last, c.growth_pct), (0.0, 60.0, None));
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.reasons[0].to_string().contains("from zero"),
        "{:?}",
        c.reasons
    );
}

#[test]
fn warmup_is_excluded() {
    // Big jump during warmup, flat afterwards.
    let mut v = vec![1.0 * MIB, 50.0 * MIB];
    v.extend([60.0 * MIB; 8]);
    let samples = Samples::new(10).scalar("committed.gc", &v).build();
    let b = budgets("- metric: committed.gc\n  max_growth: 1MiB\n");
    let with = |w| {
        judge(
            &samples,
            &b,
            &TypeFilter::none(),
            &JudgeOptions {
                warmup_samples: w,
                ..Default::default()
            },
        )
    };
    assert_eq!(with(0).status, Status::Fail);
    assert_eq!(
        with(1).status,
        Status::Fail,
        "50 → 60 MiB still above 1 MiB"
    );
    let v2 = with(2);
    assert_eq!(v2.status, Status::Pass);
    assert_eq!(v2.checks[0].samples, 8);
    assert!(v2.notes[0].contains("first 2 of 10 samples were warmup"));
}

#[test]
fn weak_evidence_keeps_limits_but_not_trends() {
    let v: Vec<f64> = (0..3).map(|i| (10 + 10 * i) as f64 * MIB).collect();
    let samples = Samples::new(3).scalar("resident", &v).build();
    let verdict = judge(
        &samples,
        &budgets("- metric: resident\n"),
        &TypeFilter::none(),
        &no_warmup(),
    );
    assert!(verdict.weak_evidence);
    assert_eq!(verdict.status, Status::Pass);
    assert!(verdict.notes.iter().any(|n| n.contains("weak evidence")));
    // Limits still apply.
    let verdict = judge(
        &samples,
        &budgets("- metric: resident\n  max: 25MiB\n"),
        &TypeFilter::none(),
        &no_warmup(),
    );
    assert_eq!(verdict.status, Status::Fail);
    // Strict growth on every one of ≥3 samples still counts as growing
    // for the snapshot.
    assert_eq!(verdict.growing.len(), 1);
}

#[test]
fn unmeasured_metric_warns() {
    let samples = Samples::new(5).scalar("resident", &[1.0; 5]).build();
    let v = judge(
        &samples,
        &budgets("- metric: committed.gc\n  max: 1GiB\n"),
        &TypeFilter::none(),
        &no_warmup(),
    );
    assert_eq!(v.status, Status::Warn);
    assert!(v.notes.iter().any(|n| n.contains("not measured")));
    assert_eq!(
        judge(
            &[],
            &budgets("- metric: resident\n"),
            &TypeFilter::none(),
            &no_warmup()
        )
        .status,
        Status::Warn
    );
}

#[test]
fn a_per_type_budget_without_any_managed_data_warns() {
    // Memory maps only (`dump: none`, or managed analysis failed): a finalizable
    // budget has nothing to judge, which must not read as a clean pass.
    let samples = Samples::new(6)
        .scalar("committed.unknown", &[BASE; 6])
        .build();
    let v = judge(
        &samples,
        &budgets("- metric: finalizable\n  max_growth: 10\n"),
        &TypeFilter::none(),
        &no_warmup(),
    );
    assert_eq!(v.status, Status::Warn, "{:?}", v.notes);
    assert!(
        v.notes.iter().any(|n| n.contains("no finalizable data")),
        "{:?}",
        v.notes
    );

    // A glob that matches none of the types that were seen is only a note.
    let samples = Samples::new(6)
        .finalizable("App.Thing", &[Some(3); 6])
        .build();
    let v = judge(
        &samples,
        &budgets("- metric: finalizable\n  types: \"Other.*\"\n  max_growth: 10\n"),
        &TypeFilter::none(),
        &no_warmup(),
    );
    assert_eq!(v.status, Status::Pass, "{:?}", v.notes);
}

/// The measured false alarm: a healthy 400 MiB heap under bursts of large
/// arrays, whose committed memory grew +286 MiB — free regions the GC
/// kept — while the live heap and native memory stayed flat. A hard limit
/// on committed memory judges it without the GC's free regions, unless the
/// budget counts the footprint itself.
#[test]
fn hard_limits_on_committed_memory_leave_out_the_gcs_free_regions() {
    use leakgate_record::GcCommitted;
    let free_mib = [97.0, 180.0, 260.0, 330.0, 364.0, 364.0];
    let gc: Vec<GcCommitted> = free_mib
        .iter()
        .map(|f| GcCommitted {
            in_use: 414 << 20,
            in_free: (f * MIB) as u64,
            bookkeeping: 2 << 20,
            ..GcCommitted::default()
        })
        .collect();
    let committed: Vec<f64> = free_mib.iter().map(|f| (416.0 + 29.0 + f) * MIB).collect();
    let live = vec![413.7 * MIB; 6];
    let samples = Samples::new(6)
        .scalar("committed.unknown", &committed)
        .scalar("gc.live", &live)
        .gc_committed(&gc)
        .build();
    let limit = "- metric: committed.unknown\n  max_growth: 256MiB\n  trend: off\n";
    let v = judge(&samples, &budgets(limit), &TypeFilter::none(), &no_warmup());
    assert_eq!(v.status, Status::Pass, "{:?}", v.checks[0].reasons);
    let reason = &v.checks[0].reasons[0].to_string();
    assert!(
        reason.contains("+267.0 MiB") && reason.contains("without the GC's free regions"),
        "{reason}"
    );
    println!("{reason}");
    // The footprint itself, asked for: the free regions count.
    let footprint = format!("{limit}  include_gc_free: true\n");
    let v = judge(
        &samples,
        &budgets(&footprint),
        &TypeFilter::none(),
        &no_warmup(),
    );
    assert_eq!(v.status, Status::Fail, "{:?}", v.checks[0].reasons);
    // A limit the memory outside the free regions breaks still fails.
    let tight = "- metric: committed.unknown\n  max: 400MiB\n  trend: off\n";
    let v = judge(&samples, &budgets(tight), &TypeFilter::none(), &no_warmup());
    assert_eq!(v.status, Status::Fail, "{:?}", v.checks[0].reasons);
    assert!(
        v.checks[0].reasons[0]
            .to_string()
            .contains("above max 400.0 MiB")
    );
}

/// One leak spread over three types through one holder: each grows 30 KiB
/// per 1k requests, under the materiality of 64; their bytes together, 90
/// KiB per 1k requests, are the leak.
#[test]
fn types_growing_through_one_holder_are_judged_together() {
    use leakgate_gate::findings::Finding;
    use leakgate_gate::judge::judge_findings;
    use leakgate_heap::{PathStep, RetentionPath, Root};
    let n = 9;
    let members = ["TaskNode", "StateMachineBox", "Reply"];
    let mut b = Samples::new(n);
    for t in members {
        let bytes: Vec<u64> = (0..n as u64).map(|i| 4096 + 30 * 1024 * i).collect();
        let counts: Vec<u64> = (0..n as u64).map(|i| 10 + 100 * i).collect();
        b = b.heap(t, &counts, &bytes);
    }
    let samples = b.build();
    let budget = budgets("- metric: heap.bytes\n  types: \"*\"\n  trend: fail\n");
    let options = JudgeOptions::default();
    let mut v = judge(&samples, &budget, &TypeFilter::none(), &options);
    assert_eq!(
        v.status,
        Status::Pass,
        "each type alone is too slow to matter"
    );
    let finding = Finding {
        holder: RetentionPath {
            root: Root::static_field("Pending", "Waiters"),
            steps: vec![PathStep::new("SemaphoreSlim", None)],
        },
        members: members.iter().map(|t| t.to_string()).collect(),
    };
    judge_findings(
        &mut v,
        std::slice::from_ref(&finding),
        &samples,
        &budget,
        &options,
    );
    // Each member rises significantly in the budget's family: their sum,
    // growing by more than matters, fails.
    assert_eq!(v.status, Status::Fail);
    let together = v.checks.last().unwrap();
    assert!(together.trend_growing, "{:?}", together.reasons);
    assert!(
        together
            .reason_texts()
            .iter()
            .any(|r| r.contains("most significant member")),
        "{:?}",
        together.reasons
    );
    assert_eq!(together.members, finding.members);
    assert_eq!(
        together.type_name.as_deref(),
        Some("3 types held by static Pending.Waiters → SemaphoreSlim")
    );
    assert!((together.growth - 3.0 * 30.0 * 1024.0 * 7.0).abs() < 1.0);
    // With a member failing on its own, the finding fails with it, and the
    // budget's per-type limits do not apply to the sum.
    let limited = budgets("- metric: heap.bytes\n  types: \"*\"\n  max_growth: 200KiB\n");
    let mut v = judge(&samples, &limited, &TypeFilter::none(), &options);
    assert_eq!(v.status, Status::Fail, "each type grew 210 KiB");
    judge_findings(
        &mut v,
        std::slice::from_ref(&finding),
        &samples,
        &limited,
        &options,
    );
    let together = v.checks.last().unwrap();
    assert!(
        together
            .reason_texts()
            .iter()
            .all(|r| !r.contains("max_growth")),
        "{:?}",
        together.reasons
    );
    // Without a budget on heap.bytes that covers them all, it is reported, not judged.
    let narrow = budgets("- metric: heap.bytes\n  types: \"Task*\"\n  trend: fail\n");
    let mut v = judge(&samples, &narrow, &TypeFilter::none(), &options);
    judge_findings(&mut v, &[finding], &samples, &narrow, &options);
    assert_eq!((v.status, v.checks.len()), (Status::Pass, 1));
}

/// Two types that rose a little, not significantly among the types that
/// moved: their sum rises by more than matters, yet with no member's rise
/// to stand on it passes, however steady the sum looks (its members were
/// traced because they rose).
#[test]
fn a_finding_needs_a_member_that_rises_in_its_family() {
    use leakgate_gate::findings::Finding;
    use leakgate_gate::judge::judge_findings;
    use leakgate_heap::{PathStep, RetentionPath, Root};
    let unit = 80 * 1024;
    // Warm-up sample first; judged: p = 0.019 alone.
    let zigzag = [0u64, 2, 1, 3, 2, 4, 3, 5, 4];
    let bytes: Vec<u64> = zigzag.iter().map(|k| (1 << 20) + k * unit).collect();
    let counts: Vec<u64> = zigzag.iter().map(|k| 100 + 40 * k).collect();
    let mut b = Samples::new(zigzag.len())
        .heap("App.Node", &counts, &bytes)
        .heap("App.Reply", &counts, &bytes);
    // Three busy types moving by hundreds of KiB, up and down.
    for (k, t) in ["System.String", "System.Byte[]", "System.Char[]"]
        .into_iter()
        .enumerate()
    {
        let moves = [3u64, 1, 4, 1, 5, 9, 2, 6, 5];
        let bytes: Vec<u64> = moves
            .iter()
            .map(|m| (4 << 20) + ((m + k as u64) % 10) * 100 * 1024)
            .collect();
        b = b.heap(t, &[1000; 9], &bytes);
    }
    let samples = b.build();
    let budget = budgets("- metric: heap.bytes\n  types: \"*\"\n  trend: fail\n");
    let options = JudgeOptions::default();
    let mut v = judge(&samples, &budget, &TypeFilter::none(), &options);
    assert_eq!(v.status, Status::Pass);
    let node = v
        .checks
        .iter()
        .find(|c| c.type_name.as_deref() == Some("App.Node"))
        .unwrap();
    assert!(node.mk_p_value.unwrap() < 0.05);
    assert!(node.mk_p_adjusted.unwrap() >= 0.05, "{node:?}");
    let finding = Finding {
        holder: RetentionPath {
            root: Root::static_field("Cache", "Entries"),
            steps: vec![PathStep::new("Dictionary", None)],
        },
        members: vec!["App.Node".into(), "App.Reply".into()],
    };
    judge_findings(&mut v, &[finding], &samples, &budget, &options);
    let together = v.checks.last().unwrap();
    // 80 KiB per 1k requests: more than the 64 that matter.
    assert!(
        together.slope_per_1k_requests.unwrap() >= 64.0 * 1024.0,
        "{together:?}"
    );
    assert_eq!(together.status, Status::Pass, "{:?}", together.reasons);
    assert!(!together.trend_growing);
    assert_eq!(v.status, Status::Pass);
}

/// Native memory as measured on the fixture service (slow-healthy: 9
/// samples 3 s and 180 requests apart, KiB): the runtime's own heaps
/// (JIT'd code, loader heaps) warm up by 536 KiB over the judged samples;
/// the rest of native memory is flat.
fn measured_native(rest_leak_per_sample: f64, runtime_leak_per_sample: f64) -> Samples {
    const KIB: f64 = 1024.0;
    let warm_up = [
        11472.0, 12216.0, 12388.0, 12512.0, 12540.0, 12640.0, 12692.0, 12748.0, 12752.0,
    ];
    let runtime: Vec<f64> = warm_up
        .iter()
        .enumerate()
        .map(|(i, w)| w + runtime_leak_per_sample * i as f64)
        .collect();
    let rest: Vec<f64> = (0..9)
        .map(|i| 13476.0 + rest_leak_per_sample * i as f64)
        .collect();
    let gc = [
        5176.0, 5560.0, 5944.0, 6072.0, 6136.0, 6200.0, 6192.0, 6192.0, 6192.0,
    ];
    let live = [
        1881.0, 1730.0, 1844.0, 1925.0, 2003.0, 2003.0, 1992.0, 2002.0, 1989.0,
    ];
    let native: Vec<f64> = runtime.iter().zip(&rest).map(|(r, o)| r + o).collect();
    let unknown: Vec<f64> = native.iter().zip(&gc).map(|(n, g)| n + g).collect();
    let kib = |v: &[f64]| v.iter().map(|x| x * KIB).collect::<Vec<f64>>();
    Samples::with_rate(9, 3.0, 180)
        .scalar("committed.unknown", &kib(&unknown))
        .scalar("committed.native", &kib(&native))
        .scalar("committed.gc", &kib(&gc))
        .scalar("gc.live", &kib(&live))
        .runtime_heaps(&kib(&runtime))
}

/// The runtime's heaps warming up are held to the warm-up allowance; the
/// rest of native memory, where what native code allocates lives, to the
/// growth that matters: a leak of 40 KiB per sample there (280 KiB over
/// the judged samples, beside the 536 KiB warm-up) fails. Where the
/// runtime's heaps cannot be told apart, the whole is held to the
/// allowance, and the same leak passes.
#[test]
fn native_memory_outside_the_runtimes_heaps_is_held_to_the_growth_that_matters() {
    let budget =
        "- metric: committed.unknown\n  trend: fail\n- metric: committed.native\n  trend: fail\n";
    let options = JudgeOptions::default();
    let judge_of = |samples: &[leakgate_gate::series::SampleMetrics]| {
        judge(samples, &budgets(budget), &TypeFilter::none(), &options)
    };
    let warm_up = judge_of(&measured_native(0.0, 0.0).build());
    assert_eq!(warm_up.status, Status::Pass, "{:#?}", warm_up.checks);
    let reason = warm_up.checks[0].reasons[0].to_string();
    assert!(
        reason.contains("the runtime's JIT'd code and loader heaps"),
        "{reason}"
    );

    let leak = judge_of(&measured_native(40.0, 0.0).build());
    assert_eq!(leak.status, Status::Fail, "{:#?}", leak.checks);
    for c in &leak.checks {
        assert_eq!(c.status, Status::Fail, "{}: {:?}", c.metric, c.reasons);
    }

    let mut unsplit = measured_native(40.0, 0.0).build();
    for s in &mut unsplit {
        s.runtime_heaps = None;
    }
    let whole = judge_of(&unsplit);
    assert_eq!(whole.status, Status::Pass, "{:#?}", whole.checks);

    // Code generated per request and kept: the runtime's heaps grow 300
    // KiB per sample (2.1 MiB over the judged samples), and say so.
    let dynamic = judge_of(&measured_native(0.0, 300.0).build());
    for c in &dynamic.checks {
        assert_eq!(c.status, Status::Fail, "{}: {:?}", c.metric, c.reasons);
        assert_eq!(c.trend_reason, TrendReason::RuntimeHeapsGrowing);
    }
    let reason = dynamic.checks[0].reasons[0].to_string();
    assert!(reason.contains("the runtime's own heaps"), "{reason}");
    println!("{reason}");
}

/// `count: auto` decides each part of native memory on its own: the
/// runtime's heaps levelling off after their warm-up do not let a slow leak
/// in the rest pass as "flat since a step" before it shows. For each rate
/// the nine samples fail, sampling sequentially does not stop with a pass.
#[test]
fn count_auto_does_not_pass_a_native_leak_beside_the_runtimes_warm_up() {
    use leakgate_gate::sequential::{Next, SamplingPlan, StopReason, next_step};
    let budget = budgets("- metric: committed.native\n  trend: fail\n");
    let (options, plan) = (JudgeOptions::default(), SamplingPlan::default());
    let mut tried = 0;
    for rate in [10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 60.0] {
        let samples = measured_native(rate, 0.0).build();
        let nine = judge(&samples, &budget, &TypeFilter::none(), &options);
        if nine.status != Status::Fail {
            continue;
        }
        tried += 1;
        for taken in plan.min_count..=samples.len() {
            let next = next_step(
                &samples[..taken],
                &budget,
                &TypeFilter::none(),
                &options,
                &plan,
            );
            if let Next::Stop(stop) = next {
                assert!(
                    !matches!(stop.reason, StopReason::AllDecided),
                    "{rate} KiB/sample, after {taken} samples: {stop}"
                );
                break;
            }
        }
    }
    assert!(tried >= 3, "only {tried} rates fail on nine samples");
}
